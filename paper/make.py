"""Build the paper: run the experiments, draw the figures, fill in the numbers, render.

Run: ``python -m paper.make [--quick] [--results DIR] [--out DIR] [--skip-experiments]
[--renderer auto|pandoc|python]``.

1. every experiment of :data:`EXPERIMENTS` runs (full, or ``--quick``) into
   ``--results`` (the long ones resume from what they already wrote);
2. :mod:`paper.figures` draws every figure from those results only;
3. the numbers quoted in ``paper/paper.md`` are computed from the results
   into ``OUT/numbers.json`` and substituted for the ``{{name}}`` fields (a
   field without a number is an error, never left blank); tables likewise;
4. the filled-in ``OUT/paper.md`` is rendered to ``OUT/paper.html`` by pandoc
   (with citeproc) when it is installed, else by Python-Markdown with the
   citations resolved from ``paper.bib``; and to ``OUT/paper.pdf`` when
   pandoc finds a PDF engine (``apt install pandoc texlive-xetex`` on Debian
   or Ubuntu; ``brew install pandoc basictex`` on macOS).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Experiments the paper draws on, in the order they run.
EXPERIMENTS = ("seed_demo", "zero_locking", "rank_selection", "brunet", "faces_parts", "rank_gap", "rank_settle",
               "solver_race", "text_topics")
#: Experiments whose long fits run on the chosen backend (the others keep NumPy).
BACKEND_EXPERIMENTS = ("brunet", "rank_selection")
FIELD = re.compile(r"\{\{(\w+)\}\}")


def _load(results: Path, name: str) -> dict:
    path = results / name / "numbers.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `python -m experiments.{name}` first")
    return json.loads(path.read_text())


def _fmt(x, digits=3) -> str:
    return f"{x:.{digits}g}"


def _series(values, digits=3) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


def quoted_numbers(results: Path) -> dict:
    """Every number the text quotes, formatted, keyed by its field name."""
    n: dict[str, str] = {}
    seed = _load(results, "seed_demo")
    fit = seed["fit"]
    n["seed_n_iter"] = str(fit["n_iter"])
    n["seed_relative_error"] = _fmt(fit["relative_error"])
    n["seed_recovery"] = f"{fit['recovery']:.4f}"
    n["seed_max_increase"] = _fmt(fit["max_increase"], 2)
    ref = seed.get("reference", {})
    n["seed_replay_deviation"] = (f"{ref['max_trace_deviation']:.1e} (largest absolute difference)"
                                  if "max_trace_deviation" in ref else "(skipped: the R reference data is absent)")

    zl = _load(results, "zero_locking")
    n["zl_start_zeros"] = str(zl["start_zeros"]["total"])
    n["zl_ratio"] = f"{(1 - 1 / zl['objective_ratio_plain_over_floored']) * 100:.1f} %"
    n["zl_kkt_plain"] = _fmt(zl["plain"]["final_kkt"])
    n["zl_kkt_floored"] = _fmt(zl["floored"]["final_kkt"])

    rs = _load(results, "rank_selection")
    n["rs_planted"] = str(rs["planted_rank"])
    for key, field in (("held_out", "rs_held_out"), ("elbow_training_error", "rs_elbow"),
                       ("cophenetic_max", "rs_cophenetic"), ("dispersion_max", "rs_dispersion")):
        n[field] = str(rs["choices"][key])

    br = _load(results, "brunet")
    aml, med = br["all_aml"], br["medulloblastoma"]
    n["brunet_restarts"] = str(aml["restarts"])
    n["brunet_all_aml_cophenetic"] = _series([r["cophenetic"] for r in aml["table"]], 4)
    n["brunet_all_aml_null"] = _series([r["cophenetic"] for r in aml["null_table"]])
    n["brunet_all_aml_ari3"] = f"{aml['clusters']['3']['adjusted_rand']:.3f}"
    n["brunet_medullo_cophenetic"] = _series([r["cophenetic"] for r in med["table"]], 4)

    fp = _load(results, "faces_parts")
    n["faces_n_images"] = str(fp["n_images"])
    n["faces_rank"] = str(fp["rank"])
    for key in ("nmf", "pca", "kmeans"):
        n[f"faces_sparseness_{key}"] = f"{fp['median_sparseness'][key]:.2f}"
    n["faces_negative_share"] = f"{fp['eigenface_negative_share'] * 100:.0f} %"
    at = fp["ranks"].index(fp["rank"])
    for key in ("nmf", "pca", "kmeans", "svd"):
        n[f"faces_error_{key}"] = f"{fp['errors'][key][at]:.3f}"

    rg = _load(results, "rank_gap")
    n["rg_n_cases"] = str(rg["n_cases"])
    n["rg_n_exact"] = str(rg["n_exact"])
    n["rg_n_consistent"] = str(rg["n_consistent"])
    n["rg_n_settled"] = str(rg["n_matching_settled"])
    ledm5 = next((c for c in rg["cases"] if c["name"] == "ledm(5)"), None)
    tau = ledm5 and ledm5["methods"].get("tau_plus")
    n["rg_ledm5_tau"] = (f"a certified {tau['value']:.4f}" if tau and tau["value"] is not None
                         else "(not computed in this run)")

    settle = _load(results, "rank_settle")
    n["settle_n_cases"] = str(settle["n_cases"])
    n["settle_n_settled"] = str(settle["n_settled"])
    n["settle_max_seconds"] = f"{settle['max_seconds']:.0f}"

    tt = _load(results, "text_topics")
    n["text_n_documents"] = str(tt["n_documents"])
    n["text_n_terms"] = str(tt["n_terms"])
    n["text_rank"] = str(tt["rank"])
    for k in (1, 2):
        n[f"text_topic_{k}"] = ", ".join(tt["topics"][k - 1]["terms"][:5])
    return n


def rank_gap_table(results: Path) -> str:
    from experiments.rank_gap import markdown_table

    rg = _load(results, "rank_gap")
    return "Table 1: computed bounds beside the literature (✓: the bounds meet); per method its bound " \
           "(and value before rounding up).\n\n" + markdown_table(rg["cases"])


def race_table(results: Path) -> str:
    race = _load(results, "solver_race")
    lines = ["| data | loss | fastest nmflab | s | fastest peer | s | peer time / nmflab time |",
             "|---|---|---|---|---|---|---|"]
    for r in race["races"]:
        s = r["summary"]["0.1%"]

        def cell(x):
            return "not reached" if x is None else f"{x:.3g}"

        lines.append(f"| {r['data']} | {r['loss']} | {s['nmflab_best'] or '–'} | {cell(s['nmflab_seconds'])} | "
                     f"{s['peer_best'] or '–'} | {cell(s['peer_seconds'])} | {cell(s['ratio'])} |")
    return "\n".join(lines)


def fill(template: str, fields: dict) -> str:
    missing = sorted(set(FIELD.findall(template)) - set(fields))
    if missing:
        raise KeyError(f"paper.md quotes fields with no number: {missing}")
    return FIELD.sub(lambda m: fields[m.group(1)], template)


# ------------------------------------------------------------------ rendering
def _bib_entries(text: str) -> dict:
    """key -> fields of a BibTeX file (enough of the format for our own paper.bib)."""
    entries = {}
    for match in re.finditer(r"@\w+\{([^,]+),(.*?)\n\}", text, flags=re.S):
        fields = dict(re.findall(r"(\w+)\s*=\s*\{((?:[^{}]|\{[^{}]*\})*)\}", match.group(2)))
        entries[match.group(1).strip()] = {k: re.sub(r"[{}\\]", "", v) for k, v in fields.items()}
    return entries


def _cite_label(entry: dict) -> str:
    authors = entry.get("author", "?").split(" and ")
    surname = authors[0].split(",")[0].strip()
    if len(authors) > 2 or authors[-1].strip() == "others":
        more = " et al."
    else:
        more = f" and {authors[1].split(',')[0].strip()}" if len(authors) == 2 else ""
    return f"{surname}{more} {entry.get('year', '')}"


def render_python(markdown_text: str, bib: str, title: str) -> str:
    """HTML with Python-Markdown; citations become author-year links to a reference list."""
    import markdown

    entries = _bib_entries(bib)
    cited: list[str] = []

    def link(key: str) -> str:
        if key not in cited:
            cited.append(key)
        return f'<a href="#ref-{key}">{_cite_label(entries[key])}</a>'

    def bracketed(match):  # [@a; @b]: every key must be in paper.bib
        keys = [k.strip().lstrip("@") for k in match.group(1).split(";")]
        unknown = [k for k in keys if k not in entries]
        if unknown:
            raise KeyError(f"citations {unknown} are not in paper.bib")
        return "(" + "; ".join(link(k) for k in keys) + ")"

    def narrative(match):  # @key in running text; an @ that names no entry is left alone
        return link(match.group(1)) if match.group(1) in entries else match.group(0)

    body = re.sub(r"\[(@[^\]]+)\]", bracketed, markdown_text)
    body = re.sub(r"(?<![\w\[])@(\w+)", narrative, body)
    html = markdown.markdown(body, extensions=["tables"])
    refs = "".join(
        f'<li id="ref-{k}">{entries[k].get("author", "")} ({entries[k].get("year", "")}). '
        f'{entries[k].get("title", "")}. <i>{entries[k].get("journal") or entries[k].get("booktitle") or entries[k].get("publisher", "")}</i>.</li>'
        for k in cited)
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{title}</title>"
            "<style>body{max-width:52em;margin:2em auto;font-family:sans-serif;line-height:1.45}"
            "img{max-width:100%}table{border-collapse:collapse;font-size:80%}"
            "td,th{border:1px solid #ccc;padding:2px 5px}</style>"
            "<script src='https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js' async></script>"
            f"</head><body><h1>{title}</h1>\n{html}\n<ol>{refs}</ol></body></html>\n")


def render(out: Path, renderer: str) -> list[Path]:
    paper = out / "paper.md"
    written = []
    text = paper.read_text()
    title = re.search(r'^title: "(.*)"$', text, flags=re.M).group(1)
    use_pandoc = renderer == "pandoc" or (renderer == "auto" and shutil.which("pandoc"))
    if use_pandoc:
        subprocess.run(["pandoc", "paper.md", "--citeproc", "--bibliography", "paper.bib", "--standalone",
                        "--mathjax", "-o", "paper.html"], cwd=out, check=True)
    else:
        body = re.sub(r"^---\n.*?\n---\n", "", text, flags=re.S)
        (out / "paper.html").write_text(render_python(body, (out / "paper.bib").read_text(), title))
    written.append(out / "paper.html")
    engine = next((e for e in ("xelatex", "pdflatex", "lualatex", "tectonic", "weasyprint", "wkhtmltopdf")
                   if shutil.which(e)), None)
    if use_pandoc and engine:
        subprocess.run(["pandoc", "paper.md", "--citeproc", "--bibliography", "paper.bib",
                        f"--pdf-engine={engine}", "-o", "paper.pdf"], cwd=out, check=True)
        written.append(out / "paper.pdf")
    else:
        print("no PDF: it needs pandoc and a PDF engine (Debian/Ubuntu: apt install pandoc texlive-xetex)")
    return written


def build(results: Path, figures: Path, out: Path, renderer: str = "auto", quick: bool = False) -> list[Path]:
    """Steps 3 and 4: numbers, tables, the filled-in paper and its renderings."""
    from experiments.common import _git_revision

    out.mkdir(parents=True, exist_ok=True)
    fields = quoted_numbers(results)
    fields["table_rank_gap"] = rank_gap_table(results)
    fields["table_race"] = race_table(results)
    fields["git_revision"] = _git_revision()[:12]
    fields["build_date"] = datetime.date.today().isoformat()
    fields["quick_note"] = " (from the `--quick` experiments: a check of the pipeline, not the paper's numbers)" \
        if quick else ""
    (out / "numbers.json").write_text(json.dumps(fields, indent=1, ensure_ascii=False) + "\n")
    (out / "paper.md").write_text(fill((HERE / "paper.md").read_text(), fields))
    shutil.copy(HERE / "paper.bib", out / "paper.bib")
    figure_dir = out / "figures"
    figure_dir.mkdir(exist_ok=True)
    for image in re.findall(r"\(figures/([\w.-]+\.png)\)", (out / "paper.md").read_text()):
        source = figures / image
        if not source.exists():
            raise FileNotFoundError(f"{source} is missing: run `python -m paper.figures all`")
        if source.resolve() != (figure_dir / image).resolve():
            shutil.copy(source, figure_dir / image)
    return render(out, renderer)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paper.make", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="run the experiments with --quick (seconds)")
    parser.add_argument("--results", default="results")
    parser.add_argument("--out", default="paper/build")
    parser.add_argument("--skip-experiments", action="store_true", help="use the results as they are")
    parser.add_argument("--renderer", default="auto", choices=("auto", "pandoc", "python"))
    parser.add_argument("--backend", default=None, choices=("numpy", "jax"),
                        help="the experiments' backend for the long surveys (default: jax when installed)")
    args = parser.parse_args(argv)
    backend = args.backend or ("jax" if importlib.util.find_spec("jax") else "numpy")
    results, out = Path(args.results), Path(args.out)
    if not args.skip_experiments:
        for name in EXPERIMENTS:
            print(f"experiment {name}{' (quick)' if args.quick else ''} ...", flush=True)
            module = importlib.import_module(f"experiments.{name}")
            module.run((["--quick"] if args.quick else []) + ["--out", str(results / name)]
                       + (["--backend", backend] if name in BACKEND_EXPERIMENTS else []))
    from paper import figures

    figure_dir = out / "figures"
    for name, draw in figures.FIGURES.items():
        print(draw(results, figure_dir))
    for path in build(results, figure_dir, out, args.renderer, quick=args.quick):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
