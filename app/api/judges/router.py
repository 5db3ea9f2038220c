"""``/v1/judges``: LLM judges a monitor can run (admin scope to change, read to list).

Project-scoped like every resource: a key bound to a project sees its project's judges only,
and another project's judge answers 404 exactly like a missing one.
"""

from fastapi import APIRouter, Response

from app.api.deps import AdminCaller, ReadCaller, SessionDep
from app.api.errors import ERROR_RESPONSES
from app.api.judges.schemas import JudgeIn, JudgeList, JudgeOut, JudgePatch, judge_out
from app.api.params import ModelName
from app.judges import service

router = APIRouter(prefix="/v1/judges", tags=["judges"], responses=ERROR_RESPONSES)


@router.post("", status_code=201, response_model=JudgeOut, summary="Create a judge")
def post_judge(body: JudgeIn, session: SessionDep, caller: AdminCaller) -> JudgeOut:
    """An OpenAI-compatible endpoint (``base_url``, ``model``), where the worker reads its key
    (``api_key_env`` or ``api_key_file``; never the key itself), a rubric and a budget."""
    judge = service.create_judge(session, body, caller_project=caller.project_id)
    return judge_out(judge, service.project_name(session, judge))


@router.get("", response_model=JudgeList, summary="List judges")
def list_judges(session: SessionDep, caller: ReadCaller) -> JudgeList:
    """The key's project's judges (every project's for an operator's key)."""
    return JudgeList(
        judges=[
            judge_out(j, service.project_name(session, j))
            for j in service.list_judges(session, caller_project=caller.project_id)
        ]
    )


@router.get("/{name}", response_model=JudgeOut, summary="One judge")
def get_judge(name: ModelName, session: SessionDep, caller: ReadCaller) -> JudgeOut:
    """A judge's configuration and current version."""
    judge = service.get_judge(session, name, caller_project=caller.project_id)
    return judge_out(judge, service.project_name(session, judge))


@router.patch("/{name}", response_model=JudgeOut, summary="Change a judge")
def patch_judge(
    name: ModelName, body: JudgePatch, session: SessionDep, caller: AdminCaller
) -> JudgeOut:
    """Any subset of the fields. A change to what the judge answers (model, rubric,
    template, answer kind, pass threshold) starts a new version: the baseline is judged
    again and windows are compared only with the same version's scores."""
    judge = service.get_judge(session, name, caller_project=caller.project_id)
    judge = service.update_judge(session, judge, body)
    return judge_out(judge, service.project_name(session, judge))


@router.delete("/{name}", status_code=204, summary="Delete a judge")
def delete_judge(name: ModelName, session: SessionDep, caller: AdminCaller) -> Response:
    """Deletes the judge and its cached judgments; 409 while a monitor runs it."""
    service.delete_judge(
        session, service.get_judge(session, name, caller_project=caller.project_id)
    )
    return Response(status_code=204)
