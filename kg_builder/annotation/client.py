"""The few Label Studio calls miko makes, over the official SDK (imported when first needed: it
takes a few seconds and comes with the `annotate` extra)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any

import httpx

from kg_builder.annotation.server import INSTALL_HINT, Endpoint
from kg_builder.core.errors import AnnotationError

IMPORT_CHUNK = 500
PAGE_SIZE = 500


class LabelStudioClient:
    def __init__(self, endpoint: Endpoint, timeout_s: float = 60.0) -> None:
        try:
            from label_studio_sdk import LabelStudio
            from label_studio_sdk.core.api_error import ApiError
            from label_studio_sdk.types import ImportApiRequest
        except ImportError as exc:
            raise AnnotationError(f"the Label Studio SDK is not installed: {INSTALL_HINT}") from exc
        self.endpoint = endpoint
        self._api_error = ApiError
        self._task = ImportApiRequest
        self._http = httpx.Client(timeout=timeout_s, follow_redirects=True)
        self.ls = LabelStudio(  # type: ignore[no-untyped-call]  # the SDK's subclass is untyped
            base_url=endpoint.url, api_key=endpoint.token, httpx_client=self._http)
        try:
            self.me = self.ls.users.whoami()
        except ApiError as exc:
            self.close()
            if exc.status_code in (401, 403):
                raise AnnotationError(
                    f"Label Studio at {endpoint.url} refuses the API token ({exc.status_code}): "
                    "set MIKO_LABEL_STUDIO_TOKEN to the token on its Account & Settings page"
                    + (" (for a Label Studio you run: legacy tokens need "
                       "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true, or use a personal access token)"
                       if not endpoint.local else "")) from exc
            raise AnnotationError(f"Label Studio at {endpoint.url}: {exc.status_code} {exc.body}"
                                  ) from exc
        except Exception as exc:  # connection refused, DNS, TLS: the SDK's httpx errors
            self.close()
            raise AnnotationError(f"cannot reach Label Studio at {endpoint.url}: {exc}") from exc

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LabelStudioClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- projects ------------------------------------------------------------------------
    def find_project(self, title: str) -> int | None:
        projects: Any = self.ls.projects.list(title=title)
        for project in projects:
            if project.title == title and project.id is not None:
                return int(project.id)
        return None

    def project_title(self, project: int) -> str:
        try:
            return str(self.ls.projects.get(id=project).title)
        except self._api_error as exc:
            raise AnnotationError(f"Label Studio at {self.endpoint.url} has no project {project} "
                                  f"({exc.status_code})") from exc

    def ensure_project(self, title: str, description: str, config: str) -> tuple[int, bool]:
        """The project of this title (its interface updated), or a new one; True if new."""
        found = self.find_project(title)
        if found is not None:
            self.ls.projects.update(id=found, label_config=config, description=description)
            return found, False
        project = self.ls.projects.create(title=title, description=description, label_config=config)
        assert project.id is not None
        return int(project.id), True

    # -- tasks -----------------------------------------------------------------------------
    def tasks(self, project: int, with_annotations: bool) -> Iterator[dict[str, Any]]:
        """Every task of the project: {"id", "data", "annotations"?}."""
        pager: Any = self.ls.tasks.list(project=project, page_size=PAGE_SIZE,
                                   fields="all" if with_annotations else "task_only")
        for task in pager:
            yield {"id": task.id, "data": dict(task.data or {}),
                   "annotations": [a if isinstance(a, dict) else a.model_dump()
                                   for a in (task.annotations or [])]}

    def import_tasks(self, project: int, tasks: Sequence[dict[str, Any]]) -> int:
        for start in range(0, len(tasks), IMPORT_CHUNK):
            self.ls.projects.import_tasks(id=project, request=[
                self._task(data=t) for t in tasks[start:start + IMPORT_CHUNK]])
        return len(tasks)

    def users(self) -> dict[int, str]:
        """Annotator ids to their e-mail (their name in Label Studio, kept on the edges)."""
        return {int(u.id): str(u.email or u.username or u.id) for u in self.ls.users.list()
                if u.id is not None}
