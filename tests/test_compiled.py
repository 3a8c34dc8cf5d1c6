"""Compiled programs are released before the process runs out of memory mappings."""

import pytest

from bayes_scaling.inference import compiled


def test_counts_are_read_where_the_kernel_says():
    count, limit = compiled.memory_map_count(), compiled.memory_map_limit()
    if count is None or limit is None:
        pytest.skip("no /proc: not Linux")
    assert 0 < count < limit


def test_guard_releases_and_warns_near_the_limit(monkeypatch):
    if compiled.memory_map_count() is None:
        pytest.skip("no /proc: not Linux")
    compiled.SAMPLERS[("sentinel",)] = print
    monkeypatch.setattr(compiled, "memory_map_limit", lambda: 1)  # every process is "near"
    with pytest.warns(compiled.CompiledReleasedWarning, match="memory mappings"):
        assert compiled.guard_memory_maps()
    assert ("sentinel",) not in compiled.SAMPLERS
    monkeypatch.setattr(compiled, "memory_map_limit", lambda: 10 ** 9)
    assert not compiled.guard_memory_maps()
