"""Identity-blind text for a toxicity classifier: every identity mention becomes one placeholder.

A trained classifier learns whatever separates its training labels, group names included: in most
toxicity data, comments that mention some groups are toxic more often, so a classifier learns to
score the names themselves, and a civil sentence about one group scores higher than the same
sentence about another. :class:`IdentityMasker` takes the names away: the classifier is trained on,
and scores, text in which every mention that the identity lexicon finds ("gay", "Black women",
"Muslims", ...) is the same word, :data:`PLACEHOLDER`. Swapping one group's name for another's then
leaves the classifier's input, and so its score, unchanged.

The masked text is the matcher's view of the text: lower-cased words and sentence punctuation,
separated by single spaces (what a fastText model sees anyway). Mentions are found exactly as the
``bias`` stage counts them (:func:`transforms.bias_signals.identity_entries`).

Example::

    masker = IdentityMasker()
    masker.mask("Gay people and Black women are welcome.")
    # 'identityterm people and identityterm women are welcome .'
"""

from __future__ import annotations

from transforms import bias_lexicons
from transforms.bias_signals import identity_entries
from transforms.lexicon import PhraseMatcher, tokens_of

PLACEHOLDER = "identityterm"


class IdentityMasker:
    """Replaces identity mentions with :data:`PLACEHOLDER` (see the module docstring).

    Args:
      identity_lexicon: the YAML identity lexicon file (the shipped English one by default).
    """

    def __init__(self, identity_lexicon: str = bias_lexicons.IDENTITY_EN):
        self.identity_lexicon = identity_lexicon
        lexicon = bias_lexicons.load_identity_lexicon(identity_lexicon)
        self._matcher = PhraseMatcher(identity_entries(lexicon))

    def mask(self, text: str) -> str:
        tokens = tokens_of(text)
        for match in reversed(self._matcher.scan(text).matches):
            tokens[match.position:match.position + match.length] = [PLACEHOLDER]
        return " ".join(tokens)

    def __call__(self, text: str) -> str:
        return self.mask(text)
