"""The TF-IDF pipelines: the vectorizer of the classic baselines, and TF-IDF + LogisticRegression, the one classic
model that gives probabilities (an ensemble member in `compare`, a teacher in `distill`)."""

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline


def tfidf() -> TfidfVectorizer:
    """The vectorizer of every TF-IDF pipeline here: the settings of the reference figures in the data set's README."""
    return TfidfVectorizer(sublinear_tf=True, max_df=0.5, min_df=2)


def tfidf_logistic_regression():
    """LinearSVC gives no probabilities, and ComplementNB's are far from calibrated. C=20 regularizes weakly:
    many of the telling words are rare, and need large weights."""
    return make_pipeline(tfidf(), LogisticRegression(C=20, max_iter=1000))


def describe(pipeline) -> str:
    """A scikit-learn pipeline as scikit-learn prints it (every step, settings that differ from its defaults),
    on one line: what results.json records of how a pipeline was made."""
    return " ".join(repr(pipeline).split())


TFIDF_LOGISTIC_REGRESSION_SETTINGS = describe(tfidf_logistic_regression())
