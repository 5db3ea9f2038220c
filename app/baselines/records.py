"""What one baseline record may hold (the upload formats, the JSON body and the CLI share it)."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.fields import Metadata

EMBEDDERS = ("tfidf", "static", "minilm")


class BaselineRecordIn(BaseModel):
    """One holdout example: what the model saw, said, and (ideally) the right answer."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    prompt: str
    output: str = ""
    prediction: str | None = None
    label: str | None = None
    reference: str | None = Field(
        default=None, description="The correct output text (a reference answer)."
    )
    score: Annotated[float, Field(ge=0, le=1)] | None = None
    confidence: Annotated[float, Field(ge=0, le=1)] | None = Field(
        default=None,
        description="The model's probability for its prediction, as events send it: with "
        "labels it calibrates the quality estimated for windows without labels.",
    )
    token_logprobs: list[Annotated[float, Field(ge=-1e4, le=0)]] | None = None
    perplexity: Annotated[float, Field(ge=1, le=1e300)] | None = None
    metadata: Metadata | None = None
