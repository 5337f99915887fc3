"""Figures of a relay run: accuracy by round, token balances, the model lineage tree.

Each function takes the plain run record that `derelayl demo` writes to ``run.json``
(see `RunRecord`) and writes one PNG. Nothing here talks to a chain or to IPFS, so a
figure can be redrawn from a saved record::

    import json
    from derelayl.plots import plot_accuracy, plot_balances, plot_lineage

    record = json.load(open("demo-output/run.json"))
    plot_accuracy(record, "accuracy.png", genesis_accuracy=0.31)
    plot_balances(record, "balances.png")
    print(plot_lineage(record, "lineage.png").caption)

matplotlib is imported only when a figure is drawn, with the non-interactive Agg
backend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "AcceptedModel",
    "LineagePlot",
    "Plot",
    "RoundRecord",
    "RunRecord",
    "plot_accuracy",
    "plot_all",
    "plot_balances",
    "plot_lineage",
]

# Colour-blind-friendly qualitative colours (Okabe-Ito, then tab20's), markers and
# line styles: line i takes colour i, marker i and style i // len(colours), so no two
# of the first 8 x 20 lines look alike.
_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442",
            "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf", "#aec7e8", "#98df8a")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
_STYLES = ("-", "--", ":", "-.")


class AcceptedModel(TypedDict):
    """One model accepted in a round, as `derelayl demo` records it."""

    model_id: int
    parent_id: int
    trainer: str  # the creator's address
    score: float  # the evaluators' score, in [0, 1]


class RoundRecord(TypedDict):
    """What one settled round left behind."""

    round: int
    accepted: list[AcceptedModel]
    best_holdout_accuracy: float | None  # of the round's best-scored accepted model
    balances: dict[str, float]  # address -> tokens (wallet, credit, deposits, unclaimed)


class RunRecord(TypedDict, total=False):
    """A run record: ``rounds`` is required; ``participants`` (address, role, pid)
    gives the default names and roles."""

    rounds: list[RoundRecord]
    participants: list[dict[str, Any]]


@dataclass(frozen=True)
class Plot:
    """A figure written to `path`; `texts` are the labels drawn on it, in drawing order."""

    path: Path
    texts: tuple[str, ...]


@dataclass(frozen=True)
class LineagePlot(Plot):
    """The lineage figure; `best_model_id` is the model marked with a star (None if no
    model was accepted) and `caption` the sentence that says why."""

    best_model_id: int | None
    caption: str


def participant_names(record: Mapping[str, Any]) -> dict[str, str]:
    """Address -> display name (``trainer3``, ``evaluator8``) from the record's
    ``participants``, numbered in their order as `derelayl demo` does; addresses seen
    only in balances or accepted models get their first 10 characters."""
    names = {p["address"]: f"{p['role']}{i}" for i, p in enumerate(record.get("participants", []))}
    for row in record["rounds"]:
        for address in row["balances"]:
            names.setdefault(address, address[:10])
        for model in row["accepted"]:
            names.setdefault(model["trainer"], model["trainer"][:10])
    return names


def plot_accuracy(record: Mapping[str, Any], path: str | Path, *, genesis_accuracy: float | None = None,
                  centralized_accuracy: float | None = None, metric: str = "held-out accuracy",
                  title: str = "Best accepted model by round") -> Plot:
    """Draws the held-out metric of each round's best-scored accepted model.

    Parameters
    ----------
    record
        The run record (`RunRecord`); a round whose ``best_holdout_accuracy`` is None
        (nothing accepted, or not measurable) leaves a gap and a note.
    path
        The PNG to write; its folder is created.
    genesis_accuracy, centralized_accuracy
        Optional reference lines: the genesis model's metric, and centralized training
        on the pooled data.
    metric, title
        The y-axis label and the figure title.

    Returns
    -------
    Plot
        The path and the texts drawn: the value labels, then the reference labels.
    """
    plt = _pyplot()
    rounds = [row["round"] for row in record["rounds"]]
    values = [row["best_holdout_accuracy"] for row in record["rounds"]]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    texts: list[str] = []
    ys = [math.nan if v is None else v for v in values]
    ax.plot(rounds, ys, marker="o", color=_COLOURS[0], lw=2, label="DeRelayL, best accepted model", zorder=3)
    merged = [row.get("merged_holdout_accuracy") for row in record["rounds"]]
    if any(v is not None for v in merged):  # a merge relay: the start of the next round's trainers
        ax.plot(rounds, [math.nan if v is None else v for v in merged], marker="s", color=_COLOURS[2], lw=1.6,
                label="merge of the round's accepted models", zorder=3)
    # Each value labelled on its own side of the other series: the higher above, the lower below.
    for r, v, other in zip(rounds, values, merged):
        for value, below, colour in ((v, other is not None and v is not None and v < other, _COLOURS[0]),
                                     (other, v is not None and other is not None and other <= v, _COLOURS[2])):
            if value is None:
                continue
            label = f"{value:.3f}"
            ax.annotate(label, (r, value), textcoords="offset points", xytext=(0, -15 if below else 8), ha="center",
                        fontsize=9, color=colour)
            texts.append(label)
    values = values + merged
    references = [(genesis_accuracy, "genesis model", _COLOURS[6], ":"),
                  (centralized_accuracy, "centralized training", _COLOURS[1], "--")]
    for value, name, colour, style in references:
        if value is None:
            continue
        label = f"{name} {value:.3f}"
        ax.axhline(value, color=colour, ls=style, lw=1.3, label=label, zorder=2)
        texts.append(label)
    known = [v for v in values if v is not None] + [v for v, *_ in references if v is not None]
    low, high = _fitted_range(known)
    for r, v in zip(rounds, values):
        if v is None:
            ax.annotate("none\naccepted", (r, low), textcoords="offset points", xytext=(0, 4), ha="center",
                        fontsize=8, color="grey")
            texts.append("none accepted")
    ax.set(xlabel="round", ylabel=metric, title=title, ylim=(low, high), xticks=rounds)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    return Plot(_save(fig, path), tuple(texts))


def plot_balances(record: Mapping[str, Any], path: str | Path, names: Mapping[str, str] | None = None,
                  roles: Mapping[str, str] | None = None) -> Plot:
    """Draws every participant's tokens by round, trainers and evaluators in two panels.

    Each line has its own colour, marker and line style, and is shifted sideways by a
    small fraction of a round (0.3 round between the outermost lines at most), so
    the markers of equal values stay visible side by side.
    Each panel's legend is sorted by the last round's tokens (highest first) and gives
    them, so it reads in the order the lines end.

    Parameters
    ----------
    record
        The run record (`RunRecord`).
    path
        The PNG to write.
    names
        Address -> display name; default `participant_names` (record).
    roles
        Address -> ``"trainer"`` or ``"evaluator"``; default the record's
        ``participants``, else a name starting with ``evaluator``.

    Returns
    -------
    Plot
        The path and the legend texts, trainers' panel first.
    """
    plt = _pyplot()
    names = dict(names) if names is not None else participant_names(record)
    if roles is None:
        roles = {p["address"]: p["role"] for p in record.get("participants", [])}
    rows = record["rounds"]
    rounds = [row["round"] for row in rows]
    addresses = list(dict.fromkeys(a for row in rows for a in row["balances"]))
    groups = {"trainer": [], "evaluator": []}
    for address in addresses:
        role = roles.get(address) or ("evaluator" if names.get(address, "").startswith("evaluator") else "trainer")
        groups["evaluator" if role == "evaluator" else "trainer"].append(address)
    panels = [(role, members) for role, members in groups.items() if members]
    widths = [7.6 if len(members) > 12 else 6.2 for _, members in panels]  # a 2-column legend
    fig, axes = plt.subplots(1, len(panels), figsize=(sum(widths), 4.6), squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    texts: list[str] = []
    for ax, (role, members) in zip(axes[0], panels):
        texts += _balance_panel(ax, rows, rounds, members, names, f"{role}s")
    fig.suptitle("Tokens by round (wallet + credit + deposits + unclaimed lineage rewards)", fontsize=10)
    return Plot(_save(fig, path), tuple(texts))


def plot_lineage(record: Mapping[str, Any], path: str | Path, names: Mapping[str, str] | None = None,
                 best_model_id: int | None = None) -> LineagePlot:
    """Draws the tree of accepted models, one column per generation (lineage layer).

    Children sit next to their parent in depth-first order, so no two edges cross.
    Each node is labelled ``#id trainer`` over ``r<round> · <score>``; the best model
    is a star.

    Parameters
    ----------
    record
        The run record (`RunRecord`).
    path
        The PNG to write.
    names
        Address -> display name; default `participant_names` (record).
    best_model_id
        The model to mark. Default: among the models whose held-out accuracy the
        record holds (each round's best-scored one), the most accurate, the latest on a
        tie; if the record holds none, the highest-scored model.

    Returns
    -------
    LineagePlot
        The path, the node labels (the genesis first, then by model id), the marked
        model and the caption.
    """
    plt = _pyplot()
    names = dict(names) if names is not None else participant_names(record)
    models: dict[int, tuple[int, AcceptedModel]] = {}
    for row in record["rounds"]:
        for model in row["accepted"]:
            models[model["model_id"]] = (row["round"], model)
    children: dict[int, list[int]] = {}
    for model_id, (_, model) in sorted(models.items()):
        children.setdefault(model["parent_id"], []).append(model_id)
    roots = sorted(p for p in children if p not in models)  # the genesis, or parents from before the record
    if 0 not in roots:
        roots.insert(0, 0)
    depth, slot = _tree_layout(roots, children)

    labels: dict[int, str] = {}
    for node in depth:
        if node in models:
            r, model = models[node]
            labels[node] = f"#{node} {names.get(model['trainer'], model['trainer'][:10])}\nr{r} · {model['score']:.3f}"
        else:
            labels[node] = "genesis" if node == 0 else f"#{node}\n(before this record)"
    best, caption = _best_model(record, models, names, best_model_id)

    generations = max(depth.values()) + 1
    leaves = max(slot.values()) + 1
    fig, ax = plt.subplots(figsize=(1.0 + 1.4 * generations, 1.4 + 0.42 * max(leaves, 3)))
    bus = 0.72  # where a parent's edges branch, past its label (in generations)
    for parent, kids in children.items():
        for kid in kids:
            x0, y0, x1, y1 = depth[parent], slot[parent], depth[kid], slot[kid]
            ax.plot([x0, x0 + bus, x0 + bus, x1], [y0, y0, y1, y1], color="#9a9a9a", lw=0.9, zorder=1)
    _draw_nodes(ax, plt, depth, slot, labels, models, best)
    ax.set_xlim(-0.15, generations - 1 + 0.95)
    ax.set_ylim(leaves - 0.5, -0.7)  # the first subtree on top
    ax.set_xticks(range(generations), ["genesis"] + [f"gen. {g}" for g in range(1, generations)])
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title("Lineage of accepted models (node colour: round)", fontsize=10)
    ax.set_xlabel(caption, fontsize=8.5)
    texts = tuple(labels[n] for n in sorted(labels))
    return LineagePlot(_save(fig, path), texts, best, caption)


def plot_merge_lineage(record: Mapping[str, Any], path: str | Path,
                       names: Mapping[str, str] | None = None) -> LineagePlot:
    """Draws a merge relay's lineage (docs/merge.md): one column per layer, every model
    of a layer descending from every model of the layer its round started from (the
    record's ``parent_models`` per round). The edges of one round meet at a bus between
    the two columns: one line from each parent to it and one from it to each child.
    Labels and the star are `plot_lineage`'s."""
    plt = _pyplot()
    names = dict(names) if names is not None else participant_names(record)
    models: dict[int, tuple[int, AcceptedModel]] = {}
    column: dict[int, int] = {0: 0}
    slot: dict[int, float] = {0: 0.0}
    buses: list[tuple[list[int], list[int]]] = []
    for row in record["rounds"]:
        accepted = [m["model_id"] for m in row["accepted"]]
        if not accepted:
            continue
        parents = [m for m in row.get("parent_models", []) if m in column]
        x = (max(column[m] for m in parents) if parents else max(column.values())) + 1
        for position, model in enumerate(row["accepted"]):
            models[model["model_id"]] = (row["round"], model)
            column[model["model_id"]] = x
            slot[model["model_id"]] = position - (len(accepted) - 1) / 2
        buses.append((parents, accepted))
    best, caption = _best_model(record, models, names, None)
    columns = max(column.values()) + 1
    height = max(len(row["accepted"]) for row in record["rounds"]) if record["rounds"] else 1
    fig, ax = plt.subplots(figsize=(1.2 + 1.6 * columns, 1.4 + 0.5 * max(height, 3)))
    for parents, children in buses:
        if not parents:
            continue
        bus_x = max(column[p] for p in parents) + 0.72
        for node in parents:
            ax.plot([column[node], bus_x], [slot[node], 0.0], color="#9a9a9a", lw=0.8, zorder=1)
        for node in children:
            ax.plot([bus_x, column[node]], [0.0, slot[node]], color="#9a9a9a", lw=0.8, zorder=1)
    labels = {0: "genesis"} | {node: (f"#{node} {names.get(model['trainer'], model['trainer'][:10])}\n"
                                      f"r{r} · {model['score']:.3f}") for node, (r, model) in models.items()}
    _draw_nodes(ax, plt, column, slot, labels, models, best)
    ax.set_xlim(-0.15, columns - 1 + 0.95)
    ax.set_ylim(height / 2 + 0.2, -height / 2 - 0.7)
    ax.set_xticks(range(columns), ["genesis"] + [f"layer {c}" for c in range(1, columns)])
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title("Lineage of a merge relay: each layer descends from the whole layer before it "
                 "(node colour: round)", fontsize=9.5)
    ax.set_xlabel(caption, fontsize=8.5)
    return LineagePlot(_save(fig, path), tuple(labels[n] for n in sorted(labels)), best, caption)


def plot_all(record: Mapping[str, Any], out: str | Path, names: Mapping[str, str] | None = None, *,
             genesis_accuracy: float | None = None, centralized_accuracy: float | None = None) -> dict[str, Plot]:
    """Writes ``accuracy.png``, ``balances.png`` and ``lineage.png`` (a merge relay's,
    `plot_merge_lineage`, when the record's rounds name their parent layer) into `out`; returns
    them by name (``"accuracy"``, ``"balances"``, ``"lineage"``). The score axis is named
    after the record's task metric (``record["metric"]``) when it has one."""
    out = Path(out)
    metric = f"held-out {record['metric'].replace('_', ' ')}" if record.get("metric") else "held-out accuracy"
    title = f"{record['task']}: best accepted model by round" if record.get("task") else "Best accepted model by round"
    return {
        "accuracy": plot_accuracy(record, out / "accuracy.png", genesis_accuracy=genesis_accuracy,
                                  centralized_accuracy=centralized_accuracy, metric=metric, title=title),
        "balances": plot_balances(record, out / "balances.png", names),
        "lineage": plot_merge_lineage(record, out / "lineage.png", names)
        if any("parent_models" in row for row in record["rounds"]) else plot_lineage(record, out / "lineage.png", names),
    }


# ---------------------------------------------------------------------------- helpers

def _pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> Path:
    """Writes `fig` to `path` (its folder created) at 120 dpi and closes it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    _pyplot().close(fig)
    return path


def _fitted_range(values: Sequence[float]) -> tuple[float, float]:
    """A y-range around `values` with room for the value labels, inside [0, 1.02]."""
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    margin = max(0.02, 0.12 * (high - low))
    return max(0.0, low - margin), min(1.02, high + 1.4 * margin)


def _balance_panel(ax: Axes, rows: Sequence[Mapping[str, Any]], rounds: Sequence[int], members: Sequence[str],
                   names: Mapping[str, str], title: str) -> list[str]:
    """One panel of `plot_balances`; returns its legend texts, top to bottom."""
    dodge = min(0.12, 0.3 / max(len(members) - 1, 1))
    handles = []
    for i, address in enumerate(members):
        shift = (i - (len(members) - 1) / 2) * dodge
        values = [row["balances"].get(address, math.nan) for row in rows]
        (line,) = ax.plot([r + shift for r in rounds], values, color=_COLOURS[i % len(_COLOURS)],
                          marker=_MARKERS[i % len(_MARKERS)], ls=_STYLES[(i // len(_COLOURS)) % len(_STYLES)],
                          lw=1.4, ms=5, alpha=0.9)
        final = next((v for v in reversed(values) if not math.isnan(v)), math.nan)
        handles.append((final, names.get(address, address[:10]), line))
    handles.sort(key=lambda h: (-h[0] if not math.isnan(h[0]) else math.inf, h[1]))
    texts = [f"{name}: {final:.2f}" for final, name, _ in handles]
    ax.legend([h[2] for h in handles], texts, title=f"{title}, tokens after round {rounds[-1]}" if rounds else title,
              fontsize=7.5, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              ncol=1 if len(handles) <= 12 else 2, frameon=False, handlelength=3)
    ax.set(xlabel="round (markers shifted sideways so equal values stay apart)", ylabel="tokens",
           title=title.capitalize(), xticks=list(rounds))
    ax.grid(alpha=0.3)
    return texts


def _draw_nodes(ax: Any, plt: Any, x: Mapping[int, float], y: Mapping[int, float], labels: Mapping[int, str],
                models: Mapping[int, tuple[int, AcceptedModel]], best: int | None) -> None:
    """The lineage figures' nodes at (`x`, `y`), coloured by round (the genesis and
    models from before the record grey), each with its label; `best` starred."""
    last_round = max((r for r, _ in models.values()), default=0)
    cmap = plt.get_cmap("viridis")
    for node in x:
        r = models[node][0] if node in models else -1
        colour = "#444444" if r < 0 else cmap(0.1 + 0.8 * r / max(last_round, 1))
        ax.scatter([x[node]], [y[node]], s=36, color=colour, zorder=3, edgecolors="white", linewidths=0.6)
        ax.annotate(labels[node], (x[node], y[node]), textcoords="offset points",
                    xytext=(11 if node == best else 6, 0), va="center", fontsize=7.5, zorder=4, linespacing=1.1,
                    fontweight="bold" if node == best else "normal",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.9})
    if best is not None:
        ax.scatter([x[best]], [y[best]], marker="*", s=320, color="#E69F00", edgecolors="black",
                   linewidths=0.7, zorder=5, label="best model")
        ax.legend(loc="upper left", fontsize=8, framealpha=0.9)


def _tree_layout(roots: Sequence[int], children: Mapping[int, Sequence[int]]) -> tuple[dict[int, int], dict[int, float]]:
    """Tidy tree layout: depth (generation) and vertical slot of every node. Leaves take
    consecutive slots in depth-first order and a parent sits at the middle of its
    children's slots, so every subtree holds a contiguous band and no edges cross."""
    depth: dict[int, int] = {}
    slot: dict[int, float] = {}
    next_leaf = 0.0

    def place(node: int, d: int) -> None:
        nonlocal next_leaf
        depth[node] = d
        kids = [k for k in children.get(node, ()) if k not in depth]
        if not kids:
            slot[node] = next_leaf
            next_leaf += 1
            return
        for kid in kids:
            place(kid, d + 1)
        slot[node] = (slot[kids[0]] + slot[kids[-1]]) / 2

    for root in roots:
        place(root, 0)
    return depth, slot


def _best_model(record: Mapping[str, Any], models: Mapping[int, tuple[int, AcceptedModel]],
                names: Mapping[str, str], chosen: int | None) -> tuple[int | None, str]:
    """The model to star, and the caption that says which and why."""
    def who(model_id: int) -> str:
        r, model = models[model_id]
        return f"#{model_id} by {names.get(model['trainer'], model['trainer'][:10])} in round {r}"

    if chosen is not None:
        return chosen, f"★ {who(chosen) if chosen in models else f'#{chosen}'}: the model marked"
    measured = []
    for row in record["rounds"]:
        accuracy = row.get("best_holdout_accuracy")
        if accuracy is None or not row["accepted"]:
            continue
        top = max(row["accepted"], key=lambda a: a["score"])  # the model the demo measured
        measured.append((accuracy, row["round"], top["model_id"]))
    if measured:
        accuracy, _, model_id = max(measured)
        return model_id, f"★ best model: {who(model_id)}, held-out accuracy {accuracy:.3f}"
    if models:
        model_id = max(models, key=lambda m: (models[m][1]["score"], m))
        return model_id, f"★ best model: {who(model_id)}, score {models[model_id][1]['score']:.3f}"
    return None, "no model accepted yet"
