"""Calls in a child process stopped at a deadline (theory/nnrank/_deadline.py): values, errors, timeouts."""

import math
import os
import time

import pytest

from theory.nnrank._deadline import Timeout, call_with_deadline


def test_the_value_comes_back():
    assert call_with_deadline(math.comb, (30, 12), seconds=600) == math.comb(30, 12)
    assert call_with_deadline(sorted, ([3, 1, 2],), {"reverse": True}, seconds=600) == [3, 2, 1]


def test_a_call_past_its_deadline_raises_timeout_and_its_process_is_gone():
    before = time.monotonic()
    with pytest.raises(Timeout, match="no result within"):
        call_with_deadline(time.sleep, (600,), seconds=0.2)
    assert time.monotonic() - before < 300  # the child was killed, not waited for (its sleep is 600 s)


def test_an_error_in_the_child_is_raised_with_its_type_and_message():
    with pytest.raises(RuntimeError, match="ValueError: invalid literal"):
        call_with_deadline(int, ("x",), seconds=600)


def test_a_child_that_dies_without_a_result_is_reported():
    with pytest.raises(RuntimeError, match="ended without a result.*exit code 3"):
        call_with_deadline(os._exit, (3,), seconds=600)
