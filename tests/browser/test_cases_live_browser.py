"""In a real headless Chromium, both databases: a step of the case escalation ladder
recorded by the sweep appears on the open board and on the owner's open agent page
without a reload (board.js over /board/stream, agent.js over /agent/stream)."""

from __future__ import annotations

from typing import cast

from conftest import FixedClock
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from ivr.bootstrap import case_parts
from ivr.domain.cases import CaseKind


def test_an_escalation_reaches_the_open_board_and_agent_page_without_reload(
    web_runtime, web_users, web_server, browser, sign_in, artifacts, web_backend
) -> None:
    svc = case_parts(web_runtime).service
    no = svc.open(
        "+8613800000041", "lift stuck", "minor", CaseKind.FOLLOW_UP, by="chen", owner="chen"
    ).case.case_no  # 1 h to engineering: the lead at 30 min
    agent = browser("zh-CN")
    sign_in(agent, web_server.url, "chen")
    WebDriverWait(agent, 10).until(lambda d: d.current_url.endswith("/agent"))
    cell = f'#my-cases tr[data-case="{no}"] td.escalation'
    assert agent.find_element(By.CSS_SELECTOR, cell).get_attribute("data-escalation") == "none"
    WebDriverWait(agent, 10).until(
        lambda d: d.find_element(By.ID, "my-cases-card").get_attribute("data-live") == "live"
    )
    lead = browser("en")
    sign_in(lead, web_server.url, "lead")
    WebDriverWait(lead, 10).until(lambda d: d.current_url.endswith("/board"))
    WebDriverWait(lead, 10).until(
        lambda d: d.find_element(By.ID, "k-live").get_attribute("data-live") == "live"
    )
    for page in (agent, lead):
        page.execute_script("window.__notReloaded = true;")

    cast(FixedClock, web_runtime.clock).advance(minutes=31)
    assert svc.sweep() == [(no, "lead")]

    item = f'#escalations li[data-case="{no}"][data-step="lead"]'
    WebDriverWait(lead, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, item))
    text = lead.find_element(By.CSS_SELECTOR, item).text
    assert no in text and "team lead" in text and "chen" in text
    WebDriverWait(agent, 15).until(
        lambda d: d.find_element(By.CSS_SELECTOR, cell).get_attribute("data-escalation") == "lead"
    )
    assert agent.find_element(By.CSS_SELECTOR, cell).text == "班长"
    alert = agent.find_element(By.CSS_SELECTOR, f'#my-escalations li[data-case="{no}"]').text
    assert "班长" in alert
    for page in (agent, lead):
        assert page.execute_script("return window.__notReloaded === true;")
    lead.save_screenshot(str(artifacts / f"board-escalation-{web_backend}.png"))
    agent.save_screenshot(str(artifacts / f"agent-escalation-{web_backend}.png"))
