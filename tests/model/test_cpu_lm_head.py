"""On CPU the training job has TRL's fused LM head score only the completion's positions: same loss, same gradients."""

import torch
import trl.trainer.utils as trl_utils
from trl.trainer.utils import add_fused_lm_head

from hiddenparams.jobs.train_job import score_only_completion_positions_on_cpu
from hiddenparams.model.load import load_model

_ORIGINAL = trl_utils._use_triton  # TRL's own switch, restored before each case


def _loss_and_grads(model_dir, compact: bool, monkeypatch):
    monkeypatch.setattr(trl_utils, "_use_triton", _ORIGINAL)
    if compact:
        assert score_only_completion_positions_on_cpu()
    assert trl_utils._use_triton(torch.device("cpu")) is compact
    model, _ = load_model(str(model_dir))
    add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(20, 200, (3, 24), generator=generator)
    labels = input_ids.clone()
    labels[:, :17] = -100  # the prompt
    labels[2, 20:] = -100  # a shorter row's padding
    out = model(input_ids=input_ids, labels=labels, fused_lm_head=True)
    out.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return out, grads


def test_scoring_the_completion_alone_gives_the_same_loss_metrics_and_gradients(tiny_model_dir, monkeypatch):
    full, full_grads = _loss_and_grads(tiny_model_dir, False, monkeypatch)
    compact, compact_grads = _loss_and_grads(tiny_model_dir, True, monkeypatch)
    assert torch.allclose(full.loss, compact.loss, atol=1e-6), (full.loss, compact.loss)
    mask = full.label_mask
    # Labels 17..23 are scored after the shift (only 17..19 in the last row).
    assert torch.equal(mask, compact.label_mask) and int(mask.sum()) == 7 + 7 + 3
    assert torch.allclose(full.entropy[mask], compact.entropy[mask], atol=1e-5)
    assert torch.equal(full.is_top1[mask], compact.is_top1[mask])
    assert full_grads.keys() == compact_grads.keys() and full_grads
    for name, grad in full_grads.items():
        assert torch.allclose(grad, compact_grads[name], atol=1e-6), name


def test_the_switch_is_made_once(monkeypatch):
    monkeypatch.setattr(trl_utils, "_use_triton", _ORIGINAL)
    assert score_only_completion_positions_on_cpu()
    switched = trl_utils._use_triton
    assert score_only_completion_positions_on_cpu()
    assert trl_utils._use_triton is switched
    assert switched(torch.device("meta")) is _ORIGINAL(torch.device("meta"))
