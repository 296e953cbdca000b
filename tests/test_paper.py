"""The paper builds from --quick experiments: every slot filled, every figure drawn, every citation known."""

import json
import re

import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("markdown")
pytest.importorskip("cvxpy")
pytest.importorskip("z3")
pytest.importorskip("gensim")


def test_paper_quick_builds(tmp_path):
    from paper import make

    results, out = tmp_path / "results", tmp_path / "paper"
    assert make.main(["--quick", "--results", str(results), "--out", str(out), "--renderer", "python"]) == 0
    text = (out / "paper.md").read_text()
    assert "{{" not in text
    numbers = json.loads((out / "numbers.json").read_text())
    # the quoted numbers are the results' numbers, not typed ones
    rank_gap = json.loads((results / "rank_gap" / "numbers.json").read_text())
    assert numbers["rg_n_cases"] == str(rank_gap["n_cases"]) and f"Over the {rank_gap['n_cases']} gallery" in text
    faces = json.loads((results / "faces_parts" / "numbers.json").read_text())
    assert numbers["faces_sparseness_nmf"] == f"{faces['median_sparseness']['nmf']:.2f}"
    html = (out / "paper.html").read_text()
    for image in re.findall(r"\(figures/([\w.-]+\.png)\)", text):
        assert (out / "figures" / image).stat().st_size > 10_000
        assert f'src="figures/{image}"' in html
    assert "<table>" in html and 'id="ref-brunet2004"' in html and "[@" not in html


def test_missing_field_is_an_error():
    from paper.make import fill

    with pytest.raises(KeyError, match="no number"):
        fill("a {{known}} and {{unknown}}", {"known": "1"})
