"""``receptive_field`` and ``summarize`` at a chosen node."""

from __future__ import annotations

import pytest

from atrous.errors import ConfigError


def test_receptive_field_and_summarize_describe_the_node_asked_for() -> None:
    from atrous.rf import Graph, conv, receptive_field
    from atrous.rf.summary import summarize

    g = Graph(1)
    a = g.add(conv(3, dilation=2), name="a")
    g.add(conv(3, dilation=4), a, name="b")
    assert receptive_field(g, node="a").size == (5,) and receptive_field(g, node=a).size == (5,)
    assert receptive_field(g).size == (13,) and g.output == 2
    s = summarize(g, node="a")
    assert s["rf"]["size"] == [5] and s["support"]["holes"] == 2 and g.output == 2
    with pytest.raises(ConfigError, match="receptive_field: node must be"):
        receptive_field(g, node=7)
