"""The Hub helpers every stage shares: local path or Hub id, the repo-id rule, durations, and one-commit pushes."""

import pytest

from hiddenparams.hub import HubNameError, is_local, push_folder, repo_id_problem, timeout_seconds


def test_a_path_shaped_name_is_local_even_when_missing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "model").mkdir()
    assert is_local("model") and is_local("data/converted")  # data/ is here: converted is a missing folder
    assert is_local(str(tmp_path / "gone")) and is_local("./x") and is_local("a/b/c")
    assert not is_local("mistralai/Ministral-3-3B-Instruct-2512") and not is_local("gpt2")


def test_the_repo_id_rule_is_the_hub_libraries_with_an_optional_namespace():
    assert repo_id_problem("me/model") is None and repo_id_problem("gpt2") is None
    assert repo_id_problem("not a repo") and repo_id_problem("a/b/c") and repo_id_problem("me/x--y")
    assert "namespace" in repo_id_problem("gpt2", namespaced=True)


def test_durations():
    assert (timeout_seconds("90m"), timeout_seconds("3600"), timeout_seconds("1.5h"), timeout_seconds(None)) == (
        5400,
        3600,
        5400,
        None,
    )
    with pytest.raises(HubNameError, match="not a duration"):
        timeout_seconds("soon")


def test_push_is_one_commit_to_a_created_repo(tmp_path, monkeypatch):
    from huggingface_hub import CommitInfo, HfApi

    calls = []
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: calls.append(("create", repo_id, kw)))

    def upload_folder(self, **kw):  # the Hub boundary: uploads go through hf_xet, which no HTTP mock sees
        calls.append(("upload", kw["repo_id"], kw["path_in_repo"], kw["commit_message"]))
        url = "https://huggingface.co/me/evals/commit/abc"
        return CommitInfo(commit_url=url, commit_message="m", commit_description="", oid="abc")

    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    pushed = push_folder(tmp_path, "me/evals", "results", path_in_repo="eval/1")
    assert calls == [
        ("create", "me/evals", {"private": True, "exist_ok": True}),
        ("upload", "me/evals", "eval/1", "results"),
    ]
    assert pushed["commit"] == "abc" and pushed["url"].endswith("/me/evals/tree/main/eval/1")
