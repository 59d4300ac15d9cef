"""Every bad image, uploaded through the sidebar, on every page that uses it: a message, no exception."""

import pytest

from tests.apptest import open_page
from tests.bad_images import BAD

IMAGE_PAGES = ["zoo", "features", "gradcam"]


@pytest.mark.parametrize("page", IMAGE_PAGES)
@pytest.mark.parametrize("case", list(BAD))
def test_bad_upload_is_explained_on_every_page(page: str, case: str) -> None:
    data, expected = BAD[case]
    at = open_page(page, sb_weights="Random (untrained)", sb_source="Upload", sb_upload_data=(f"{case}.jpg", data))
    messages = [e.value for e in at.error]
    assert any(expected in m for m in messages), messages
    assert all("Traceback" not in m for m in messages)
