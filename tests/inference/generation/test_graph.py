"""The CUDA-graph step: the fast path's samples by graph replay on a GPU; a clear
fallback without one."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import cuda
from tests.inference.generation.test_sampler import conditioning_for, make
from wavedil.inference import generate
from wavedil.inference.generation.graph import CudaGraphStepper, graph_stepper_or_reason


@cuda
@pytest.mark.parametrize("conditioning", ["none", "global_ids", "local_repeat", "both"])
@pytest.mark.parametrize("kernel_size", [2, 3])
def test_graph_replays_draw_the_fast_paths_samples(conditioning, kernel_size):
    net = make(kernel_size, conditioning).cuda()
    local_cond, global_cond = conditioning_for(net, 3, 300)
    kwargs = dict(seed=5, local_cond=local_cond, global_cond=global_cond)
    graph = generate(net, 300, 3, method="graph", **kwargs).values
    fast = generate(net, 300, 3, method="fast", **kwargs).values
    assert torch.equal(graph, fast)
    assert len(torch.unique(graph)) > 10


@cuda
def test_graph_steps_equal_the_full_forward_and_return_fresh_tensors():
    net = make(2, "global_ids").cuda()
    ids = torch.tensor([0, 2], device="cuda")
    x = torch.randint(0, 256, (2, 3 * net.receptive_field // 2), device="cuda")
    with torch.no_grad():
        full = net(x, global_cond=ids)
        stepper = CudaGraphStepper(net, 2, net.global_vector(ids))
        steps = [stepper(x[:, t]) for t in range(x.shape[-1])]
    assert steps[0].data_ptr() != steps[1].data_ptr()  # not the graph's own buffer
    assert (torch.stack(steps, -1) - full).abs().max() < 1e-3


def test_without_cuda_the_reason_is_given_and_the_fast_path_runs():
    net = make(2, "none")  # on the CPU
    assert "CUDA device" in graph_stepper_or_reason(net, 1)
    with pytest.warns(UserWarning, match="method='graph' is not available.*CUDA"):
        got = generate(net, 40, method="graph", seed=2).values
    assert torch.equal(got, generate(net, 40, method="fast", seed=2).values)


def test_a_failed_capture_is_a_reason_to_fall_back(monkeypatch):
    from types import SimpleNamespace

    from wavedil.inference.generation import graph as graph_module

    def refuse(*args, **kwargs):
        raise RuntimeError("CUDA error: operation not permitted when stream is capturing")

    monkeypatch.setattr(graph_module, "CudaGraphStepper", refuse)
    on_gpu = SimpleNamespace(context=None, linear_prediction=None,
                             head_out=SimpleNamespace(weight=SimpleNamespace(
                                 device=torch.device("cuda", 0))))
    reason = graph_stepper_or_reason(on_gpu, 1)
    assert isinstance(reason, str) and "capture failed" in reason and "RuntimeError" in reason


@pytest.mark.cuda
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_the_graph_is_captured_on_the_models_device_whatever_is_current():
    net = make(2, "none").to("cuda:1")
    with torch.cuda.device(0):
        graph = generate(net, 200, 2, method="graph", seed=1)
    assert graph.method == "graph" and graph.values.device == torch.device("cuda", 1)
    assert torch.equal(graph.values, generate(net, 200, 2, method="fast", seed=1).values)


@cuda
def test_long_ring_periods_replay_without_host_built_indices(monkeypatch):
    from wavedil.inference.generation import fast as fast_module

    monkeypatch.setattr(fast_module, "_MAX_TABLE_PERIOD", 0)  # the arithmetic slots
    net = make(3, "local_repeat").cuda()
    local_cond, _ = conditioning_for(net, 2, 200)
    graph = generate(net, 200, 2, method="graph", seed=4, local_cond=local_cond)
    assert graph.method == "graph"
    assert torch.equal(graph.values, generate(net, 200, 2, seed=4, local_cond=local_cond).values)
