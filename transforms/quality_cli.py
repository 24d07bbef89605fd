"""``winnow train-quality``: trains the fastText classifier that the ``quality_model`` stage runs.

Register it on the ``winnow`` group with ``main.add_command(quality_cli.train_quality)``.

Example::

    winnow train-quality reference.jsonl random_web.jsonl -o quality.bin --epoch 10
"""

from __future__ import annotations

from typing import Optional

import click


@click.command("train-quality")
@click.argument("positives", type=click.Path(exists=True, dir_okay=False))
@click.argument("negatives", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Where to write the model (.bin, or .ftz with --quantize).")
@click.option("--epoch", type=int, default=None, help="Training epochs (default 10).")
@click.option("--lr", type=float, default=None, help="Learning rate (default 0.1).")
@click.option("--word-ngrams", type=int, default=None, help="Word n-gram length (default 2).")
@click.option("--dim", type=int, default=None, help="Vector size (default 64).")
@click.option("--min-count", type=int, default=None, help="Minimum word count (default 1).")
@click.option("--bucket", type=int, default=None,
              help="Hash buckets for n-grams; bounds the model size (default 500000).")
@click.option("--threads", type=int, default=None, help="Training threads (default: fastText's).")
@click.option("--seed", type=int, default=None, help="Random seed for shuffling and training.")
@click.option("--quantize", is_flag=True, help="Quantize the model (much smaller file).")
@click.option("--mask-identity", is_flag=True,
              help="Train on identity-blind text (for the bias stage's toxicity classifier).")
@click.option("--balance-identity", is_flag=True,
              help="Before training, give every identity group the toxic share of the whole set "
                   "by leaving out examples (for the bias stage's toxicity classifier).")
@click.option("--civil-parity", is_flag=True,
              help="Then weight each identity group's civil examples until classifiers "
                   "cross-fitted on the training data score every group's civil texts alike on "
                   "average (trains up to six extra models; for the bias stage's toxicity "
                   "classifier).")
@click.option("--identity-lexicon", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The identity lexicon for --mask-identity, --balance-identity and "
                   "--civil-parity (default: the shipped one).")
def train_quality(positives: str, negatives: str, output: str, epoch, lr, word_ngrams, dim,
                  min_count, bucket, threads, seed, quantize: bool, mask_identity: bool,
                  balance_identity: bool, civil_parity: bool,
                  identity_lexicon: Optional[str]) -> None:
    """Train a quality classifier: POSITIVES.jsonl are good documents, NEGATIVES.jsonl poor ones.

    Both are JSONL files with a "text" field. DCLM's recipe: positives are high-quality reference
    text, negatives a random sample of the web text you will filter.

    The same command trains the bias stage's toxicity classifier: toxic texts as POSITIVES, civil
    ones as NEGATIVES, with --mask-identity (every identity mention becomes one placeholder word,
    as the stage shows it to the classifier, so the model cannot learn group names) and
    --balance-identity (each group keeps the toxic share of the whole set, so the model cannot
    learn that texts about one group are more often toxic than texts about another), and
    optionally --civil-parity (civil texts about every group end up with the same mean score, on
    training data the measuring models did not see).
    """
    # Imported here so that loading the command line does not import Beam.
    # pylint: disable=import-outside-toplevel
    from transforms import bias_lexicons, quality_model
    from transforms.civil_parity import CivilScoreParity, fasttext_toxicity_trainer
    from transforms.identity_balance import IdentityBalancer
    from transforms.identity_mask import IdentityMasker
    options = {"epoch": epoch, "lr": lr, "wordNgrams": word_ngrams, "dim": dim,
               "minCount": min_count, "bucket": bucket, "thread": threads, "seed": seed}
    args = {name: value for name, value in options.items() if value is not None}
    lexicon = identity_lexicon or bias_lexicons.IDENTITY_EN
    prepare = IdentityMasker(lexicon) if mask_identity else None
    balancer = IdentityBalancer(lexicon, seed=seed or 0) if balance_identity or civil_parity \
        else None
    parity = CivilScoreParity(balancer, fasttext_toxicity_trainer(prepare, **args),
                              balance=balance_identity, seed=seed or 0) if civil_parity else None
    select = parity or (balancer if balance_identity else None)
    try:
        summary = quality_model.train_quality_model(positives, negatives, output, prepare,
                                                    select, quantize=quantize, **args)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    if balance_identity:
        click.echo("identity balancing, kept/read per group:")
        for group in balancer.report:
            click.echo(f"  {group}")
    if civil_parity:
        click.echo(f"civil parity, {parity.rounds_run} measuring round(s), per group:")
        for group in parity.report:
            click.echo(f"  {group}")
    click.echo(f"model written: {summary['output']} ({summary['positives']} positives, "
               f"{summary['negatives']} negatives; labels {', '.join(summary['labels'])})")
    if mask_identity or balance_identity or civil_parity:
        click.echo(f"use it with: stages: [{{bias: {{classifier: {{model_path: "
                   f"{summary['output']}}}}}}}]")
    else:
        click.echo(f"use it with: stages: [{{quality_model: {{model_path: "
                   f"{summary['output']}}}}}]")
