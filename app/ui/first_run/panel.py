"""The welcome panel shown in place of the chat when Moss has no model yet (a fresh install, maybe offline).

It says what this computer is, which gpt-oss model suits it and what to expect (the offload planner run on the
model's built-in layout, so nothing is downloaded to decide), offers models already on disk (Moss's library
and other apps' folders, scanned on the task pool), and starts the download of the recommended model.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.core.units import format_size
from app.engine.hardware import Machine
from app.hub.local_scan import FoundModel, known_roots, scan
from app.hub.model_details import InstalledRow
from app.hub.recommend import Recommendation, Suggestion, describe_machine, recommend
from app.hub.starter import STARTER_LABEL, is_starter_model, starter_model_path
from app.qt.models_controller import ModelsController
from app.ui.first_run.download import FirstRunDownload
from app.ui.resources import app_icon
from app.ui.theme import colours, is_dark

MAX_ROWS = 6  # models listed on the panel; the rest are in Settings → Models
# The card's widest and the icon's size, in lines of text: both grow with the text size the person chose.
CARD_WIDTH_LINES = 43  # 600 px at 9 pt
ICON_LINES = 3.4  # 48 px at 9 pt


def _label(text: str = "", name: str = "", *, wrap: bool = True) -> QLabel:
    label = QLabel(text)
    if name:
        label.setObjectName(name)
    label.setWordWrap(wrap)
    return label


class ModelRow(QFrame):
    """A model on disk: its name, where it is and its size, and "Use"."""

    def __init__(self, title: str, meta: str, path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelRow")
        self.path = path
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        text = QVBoxLayout()
        text.setSpacing(1)
        self.title = _label(title, "rowTitle", wrap=False)
        self.meta = _label(meta, "hintLabel")
        text.addWidget(self.title)
        text.addWidget(self.meta)
        layout.addLayout(text, 1)
        self.use_button = QPushButton("Use")
        self.use_button.setAccessibleName(f"Use {title}")
        layout.addWidget(self.use_button, 0, Qt.AlignmentFlag.AlignVCenter)


class FirstRunPanel(QWidget):
    """Welcome card for a Moss with no model.

    Signals:
        model_chosen(path): load this model (one on disk, the demo model, or a finished download),
        open_file_requested(): the person wants to pick a .gguf file,
        download_started(): the recommended model was queued for download (its progress shows here).
    """

    model_chosen = Signal(str)
    open_file_requested = Signal()
    download_started = Signal()

    def __init__(self, machine: Machine, models: ModelsController | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("firstRunPanel")
        self.machine = machine
        self.models = models
        self.recommendation: Recommendation = recommend(machine)  # arithmetic only: offline, a few ms
        self.found: list[FoundModel] = []  # in other apps' folders, from the last scan
        self.scanning = False
        self.model_rows: list[ModelRow] = []
        self._styled_for = ""
        self._build()
        self._restyle()
        self._fit_to_font()
        if models is not None:
            models.installed_changed.connect(self._on_installed)
        self.refresh()

    # -- building -----------------------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setObjectName("firstRunScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer.addWidget(scroll)
        page = QWidget()
        page.setObjectName("firstRunPage")
        scroll.setWidget(page)
        column = QVBoxLayout(page)
        column.setContentsMargins(24, 32, 24, 32)
        column.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        self.card = QFrame()
        self.card.setObjectName("firstRunCard")
        # Preferred, not Maximum, height: the card's size hint is taken at its widest, and its wrapped lines
        # need more height when it is narrower (the layouts ask heightForWidth); a cap would cut them.
        self.card.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        row.addWidget(self.card, 100)
        row.addStretch(1)
        column.addLayout(row)
        column.addStretch(2)

        card = QVBoxLayout(self.card)
        card.setContentsMargins(32, 28, 32, 24)
        card.setSpacing(14)
        card.addLayout(self._build_header())
        self.machine_label = _label(describe_machine(self.machine), "machineLine")
        card.addWidget(self.machine_label)
        card.addWidget(self._build_recommendation())
        card.addSpacing(4)
        card.addLayout(self._build_on_disk())
        card.addWidget(self._build_footer())

    def _build_header(self) -> QHBoxLayout:
        header = QHBoxLayout()
        header.setSpacing(14)
        icon = self.icon = QLabel()
        header.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        text = QVBoxLayout()
        text.setSpacing(4)
        self.title = _label("Welcome to Moss", "firstRunTitle")
        self.subtitle = _label(
            "Chat with OpenAI's gpt-oss on your own computer. Nothing you type leaves it, and once a model "
            "is here Moss works offline.",
            "hintLabel",
        )
        text.addWidget(self.title)
        text.addWidget(self.subtitle)
        header.addLayout(text, 1)
        return header

    def _build_recommendation(self) -> QFrame:
        box = self.recommend_box = QFrame()
        box.setObjectName("recommendBox")
        layout = QVBoxLayout(box)
        layout.setContentsMargins(20, 16, 20, 18)
        layout.setSpacing(8)
        self.overline = _label("", "overline")
        layout.addWidget(self.overline)
        name_row = QHBoxLayout()
        self.model_name = _label("", "modelName", wrap=False)
        self.size_pill = _label("", "sizePill", wrap=False)
        name_row.addWidget(self.model_name)
        name_row.addWidget(self.size_pill, 0, Qt.AlignmentFlag.AlignVCenter)
        name_row.addStretch(1)
        layout.addLayout(name_row)
        self.verdict = _label("", "verdict")
        self.plan_detail = _label("", "hintLabel")
        layout.addWidget(self.verdict)
        layout.addWidget(self.plan_detail)
        buttons = QHBoxLayout()
        self.download_button = QPushButton()
        self.download_button.clicked.connect(lambda: self.start_download())
        buttons.addWidget(self.download_button)
        buttons.addStretch(1)
        layout.addSpacing(4)
        layout.addLayout(buttons)
        self.other_button = QPushButton()
        self.other_button.setObjectName("linkButton")
        self.other_button.setFlat(True)
        self.other_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.other_button.clicked.connect(self._download_other)
        layout.addWidget(self.other_button, 0, Qt.AlignmentFlag.AlignLeft)

        self.download_box: FirstRunDownload | None = None
        if self.models is not None:
            self.download_box = FirstRunDownload(self.models)
            self.download_box.started.connect(self.download_started)
            self.download_box.ready.connect(self.model_chosen)
            self.download_box.offering_changed.connect(self._update_download_buttons)
            layout.addWidget(self.download_box)
        return box

    def _build_on_disk(self) -> QVBoxLayout:
        section = QVBoxLayout()
        section.setSpacing(8)
        section.addWidget(_label("Already have a model?", "sectionTitle"))
        self.on_disk_hint = _label(
            "Models on this computer, from Moss or other apps. They are used where they are: nothing is copied.",
            "hintLabel",
        )
        section.addWidget(self.on_disk_hint)
        self.rows_box = QVBoxLayout()
        self.rows_box.setSpacing(6)
        section.addLayout(self.rows_box)
        self.scan_label = _label("", "hintLabel")
        section.addWidget(self.scan_label)
        open_row = QHBoxLayout()
        self.open_button = QPushButton("Open a .gguf file…")
        self.open_button.clicked.connect(self.open_file_requested)
        open_row.addWidget(self.open_button)
        open_row.addStretch(1)
        section.addLayout(open_row)
        return section

    def _build_footer(self) -> QWidget:
        footer = QWidget()
        layout = QHBoxLayout(footer)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.setSpacing(6)
        self.demo_button = QPushButton("Try the tiny demo model")
        self.demo_button.setObjectName("linkButton")
        self.demo_button.setFlat(True)
        self.demo_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.demo_button.setToolTip(f"{STARTER_LABEL}: quick, but its answers are simple. Good for a first look.")
        self.demo_button.clicked.connect(self._use_demo)
        self.demo_hint = _label("quick to try, simple answers", "hintLabel")
        layout.addWidget(self.demo_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.demo_hint, 1)  # wraps under itself when the card is narrow, never clipped
        self.footer = footer
        return footer

    # -- state --------------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Show what is known now and look in other apps' folders again (on the task pool)."""
        self._show_recommendation()
        self._show_models()
        self.footer.setVisible(starter_model_path() is not None)
        if self.download_box is not None:
            offered = {self.recommendation.best.entry.repo_id}
            if self.recommendation.other is not None:
                offered.add(self.recommendation.other.entry.repo_id)
            self.download_box.show_existing(offered)
        self._scan()

    def _show_recommendation(self) -> None:
        best = self.recommendation.best
        self.overline.setText("RECOMMENDED FOR THIS COMPUTER" if best.fits else "THE MODEL MOSS IS MADE FOR")
        self.recommend_box.setProperty("fits", best.fits)  # amber rather than green when it does not fit
        self.recommend_box.style().unpolish(self.recommend_box)
        self.recommend_box.style().polish(self.recommend_box)
        self.model_name.setText(best.family)
        self.size_pill.setText(f"{best.download_text} download")
        verdict = best.verdict
        if not best.fits and starter_model_path() is not None:
            verdict += " Meanwhile, the tiny demo model below runs here."
        self.verdict.setText(verdict)
        self.plan_detail.setText(best.plan.summary() if best.fits else "")
        self.plan_detail.setVisible(best.fits)
        self.plan_detail.setToolTip("\n".join(best.plan.reasons))
        anyway = "" if best.fits else " anyway"
        self.download_button.setText(f"Download {best.family}{anyway} ({best.download_text})")
        self.download_button.setObjectName("primaryButton" if best.fits else "")
        self.download_button.style().unpolish(self.download_button)  # its look follows the object name
        self.download_button.style().polish(self.download_button)
        self.download_button.setEnabled(self.models is not None)
        if self.models is None:
            self.download_button.setToolTip("Downloads are not available here; use Settings → Models.")
        other = self.recommendation.other
        if other is not None and other.entry.about_bytes < best.entry.about_bytes:
            self.other_button.setText(
                f"Or the smaller {other.family}: quicker to download and to answer ({other.download_text})"
            )
        elif other is not None:
            how = "runs here too" if other.fast else "runs here too, more slowly"
            self.other_button.setText(f"{other.family} {how}: download it instead ({other.download_text})")
        self._update_download_buttons()

    def _installed(self) -> list[InstalledRow]:
        if self.models is None:
            return []
        return [r for r in self.models.rows if not r.problem and not is_starter_model(r.model.path)]

    def _show_models(self) -> None:
        for row in self.model_rows:
            row.setParent(None)
            row.deleteLater()
        self.model_rows = []
        entries: list[tuple[str, str, Path, FoundModel | None]] = []
        installed = self._installed()
        known = {r.model.path for r in installed}
        for r in installed:
            meta = f"In Moss · {format_size(r.model.size_bytes)}"
            if r.fit is not None and not r.fit.fits:
                meta += " · too big for this computer"
            entries.append((r.model.path.name, meta, r.model.path, None))
        for f in self.found:
            if f.path not in known:
                entries.append((f.path.name, f"{f.source} · {format_size(f.size_bytes)}", f.path, f))
        # gpt-oss first: the model Moss is made for.
        entries.sort(key=lambda e: ("gpt-oss" not in e[0].lower(), e[0].lower()))
        for title, meta, path, found in entries[:MAX_ROWS]:
            row = ModelRow(title, meta, path)
            row.use_button.clicked.connect(lambda _=False, p=path, f=found: self.use_model(p, f))
            self.rows_box.addWidget(row)
            self.model_rows.append(row)
        more = len(entries) - MAX_ROWS
        if self.scanning:
            self.scan_label.setText("Looking in LM Studio's, Jan's and GPT4All's folders and the Hugging Face cache…")
        elif more > 0:
            self.scan_label.setText(f"…and {more} more in Settings → Models.")
        elif not entries:
            self.scan_label.setText(
                "None found in Moss, LM Studio, Jan, GPT4All or the Hugging Face cache. Have a .gguf elsewhere?"
            )
        else:
            self.scan_label.setText("")
        self.scan_label.setVisible(bool(self.scan_label.text()))

    def _scan(self) -> None:
        if self.models is None or self.scanning:
            return
        library = self.models.library

        def job() -> list[FoundModel]:  # pool thread: walks folders, never the GUI thread
            return [f for f in scan(known_roots()) if library.find_same(f.path) is None]

        # Run here rather than through ModelsController.scan_other_apps: its scan_finished makes the Models
        # pane (when open) offer to add everything found, which is not what this panel asks.
        self.scanning = True
        self.models.tasks.run(job, self._on_scanned, self._on_scan_failed, name="first-run scan")
        self._show_models()

    def _on_scanned(self, found: object) -> None:
        self.scanning = False
        self.found = list(found)  # type: ignore[call-overload]
        self._show_models()

    def _on_scan_failed(self, message: str) -> None:
        self.scanning = False
        self._show_models()
        self.scan_label.setText(f"Could not look in other apps' folders: {message}")
        self.scan_label.show()

    def _on_installed(self, _rows: object) -> None:
        self._show_models()

    # -- actions ------------------------------------------------------------------------------------------

    def use_model(self, path: Path, found: FoundModel | None = None) -> None:
        """Load ``path``; a model from another app's folder is added to Moss's library first, in place, so it
        is there next time."""
        if found is not None and self.models is not None:
            self.models.add_found([found])
        self.model_chosen.emit(str(path))

    def _use_demo(self) -> None:
        path = starter_model_path()
        if path is not None:
            self.model_chosen.emit(str(path))

    def start_download(self, suggestion: Suggestion | None = None) -> None:
        """Download ``suggestion`` (the recommended model unless given); its progress shows in the card."""
        if self.download_box is not None:
            self.download_box.fetch(suggestion or self.recommendation.best)

    def _download_other(self) -> None:
        if self.recommendation.other is not None:
            self.start_download(self.recommendation.other)

    def _update_download_buttons(self) -> None:
        offering = self.download_box is not None and self.download_box.offering
        self.download_button.setVisible(offering or self.download_box is None)
        self.other_button.setVisible(offering and self.recommendation.other is not None)

    # -- looks --------------------------------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._restyle()
        elif event.type() == QEvent.Type.FontChange:
            self._fit_to_font()

    def _fit_to_font(self) -> None:
        """The card's width and the icon follow the text size (Settings → Appearance)."""
        line = self.fontMetrics().height()
        self.card.setMaximumWidth(round(CARD_WIDTH_LINES * line))
        side = round(ICON_LINES * line)
        self.icon.setPixmap(app_icon().pixmap(QSize(side, side)))
        self.icon.setFixedSize(side, side)

    def _restyle(self) -> None:
        """The panel's own rules, in the colours of the theme in use (read from the palette it set)."""
        mode = "dark" if is_dark(self.palette()) else "light"
        if mode == self._styled_for:
            return  # also stops the palette change a style sheet causes from restyling again
        self._styled_for = mode
        self.setStyleSheet(_style_sheet(colours(mode)))


def _style_sheet(c: dict[str, str]) -> str:
    """Colours only: the sizes of the title and labels follow the text size (app.ui.theme.heading_rules)."""
    return f"""
    QWidget#firstRunPage, QScrollArea#firstRunScroll {{ background: {c["window"]}; }}
    QFrame#firstRunCard {{ background: {c["base"]}; border: 1px solid {c["border"]}; border-radius: 16px; }}
    QLabel#firstRunTitle {{ font-weight: 600; }}
    QLabel#machineLine {{
        background: {c["alt"]}; border-radius: 6px; padding: 6px 10px; color: {c["muted"]};
    }}
    QFrame#recommendBox {{
        background: {c["user_bubble"]}; border: 1px solid {c["border"]}; border-radius: 12px;
    }}
    QFrame#recommendBox[fits="false"] {{ background: {c["banner"]}; border-color: {c["banner_border"]}; }}
    QFrame#recommendBox[fits="false"] QLabel#overline {{ color: {c["muted"]}; }}
    QLabel#overline {{ color: {c["accent"]}; font-weight: 700; letter-spacing: 1px; }}
    QLabel#modelName {{ font-weight: 600; }}
    QLabel#sizePill {{
        color: {c["muted"]}; border: 1px solid {c["border"]}; border-radius: 9px; padding: 1px 8px;
    }}
    QLabel#firstRunError {{
        background: {c["error"]}; border: 1px solid {c["error_border"]}; border-radius: 8px; padding: 8px 10px;
    }}
    QFrame#modelRow {{ background: {c["base"]}; border: 1px solid {c["border"]}; border-radius: 8px; }}
    QPushButton#linkButton {{
        color: {c["accent"]}; border: none; background: transparent; padding: 2px 0; text-align: left;
    }}
    QPushButton#linkButton:hover {{ text-decoration: underline; }}
    QPushButton#linkButton:disabled {{ color: {c["muted"]}; }}
    QFrame#downloadBox QProgressBar {{ border: none; border-radius: 4px; background: {c["base"]}; }}
    QFrame#downloadBox QProgressBar::chunk {{ border-radius: 4px; background: {c["accent"]}; }}
    """
