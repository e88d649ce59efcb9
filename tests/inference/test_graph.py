"""The CUDA-graph step: the fast path's samples by graph replay on a GPU; a clear
fallback without one."""

from __future__ import annotations

import pytest
import torch

from tests.inference.test_sampler import conditioning_for, make
from wavedil.inference import generate
from wavedil.inference.graph import CudaGraphStepper, graph_stepper_or_reason

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


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
