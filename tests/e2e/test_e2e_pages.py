"""The home page and the navigation, as a person finds them: the two sentences, the links to the four
pages, and a bookmarked link to a page working on a freshly started server."""

from __future__ import annotations

import sys

from .conftest import (REPO, StreamlitServer, assert_no_exception, open_page, page_text, screenshot, wait_for,
                       wait_until)

PAGES = {"photo": "Analyze a photo", "live": "Live camera", "video": "Analyze a video", "training": "Training & metrics"}


def _nav_labels(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    # a link's text is its icon's name (a ligature) and its title, one per line
    return [a.text.strip().splitlines()[-1] for a in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebarNav"] a')
            if a.text.strip()]


def test_home_page_explains_the_app_and_links_every_page(app_server, make_browser):
    from selenium.webdriver.common.by import By

    driver = make_browser()
    open_page(driver, app_server, "")
    assert_no_exception(driver)
    text = page_text(driver)
    assert "Facial emotion recognition" in text
    assert "never leave" in text  # images stay on this machine
    wait_until(lambda: [label for label in _nav_labels(driver) if label in PAGES.values()] == list(PAGES.values()),
               30, f"the navigation does not list {list(PAGES.values())} in order: {_nav_labels(driver)}")
    wait_for(driver, '[data-testid="stSidebar"] [data-testid="stSelectbox"]', 30)  # the model selector
    screenshot(driver, "home")

    # Each page link in the main area opens its page.
    for path, title in PAGES.items():
        open_page(driver, app_server, "")
        links = wait_until(
            lambda: [a for a in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMain"] [data-testid="stPageLink"] a')
                     if a.text.strip().endswith(title)],
            30, f"no link to '{title}' on the home page")
        links[0].click()
        wait_until(lambda: driver.current_url.rstrip("/").endswith("/" + path), 30,
                   f"the '{title}' link did not open /{path} (at {driver.current_url})")
        wait_until(lambda: any(h.text.strip() == title for h in driver.find_elements(By.TAG_NAME, "h1")), 60,
                   f"the '{title}' page did not show its title")
        assert_no_exception(driver)


def test_a_direct_link_works_on_a_freshly_started_server(make_browser, tmp_path):
    """The first visitor of a fresh server comes through a bookmark to /training, not the home page.

    (Streamlit's old `pages/` folder convention used to take over such a first visit: no navigation,
    no model selector.)
    """
    from selenium.webdriver.common.by import By

    server = StreamlitServer(REPO, sys.executable, tmp_path / "streamlit.log").start()
    try:
        driver = make_browser()
        open_page(driver, server, "training")
        wait_until(lambda: any(h.text.strip() == PAGES["training"] for h in driver.find_elements(By.TAG_NAME, "h1")),
                   60, "the training page did not open from a direct link")
        wait_for(driver, '[data-testid="stSidebar"] [data-testid="stSelectbox"]', 60)
        assert [label for label in _nav_labels(driver) if label in PAGES.values()] == list(PAGES.values())
        assert_no_exception(driver)
    finally:
        server.stop()
    assert "Traceback (most recent call last)" not in server.log_tail(200_000), server.log_tail()
