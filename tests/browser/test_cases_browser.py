"""In a real headless Chromium, both databases: the agent opens a case from the call in
progress on the agent page; the supervisor's case board shows it."""

from __future__ import annotations

from datetime import timedelta

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait


def test_agent_opens_a_case_from_the_call_and_the_board_shows_it(
    web_runtime, web_users, web_server, browser, sign_in, calls, t0, artifacts, web_backend
) -> None:
    uid = calls.call(
        t0 - timedelta(minutes=1), caller="13800000009", branch="complaints", agent="chen",
        wait=4, ended=False,
    )  # fmt: skip
    agent = browser("en")
    sign_in(agent, web_server.url, "chen")
    WebDriverWait(agent, 10).until(lambda d: d.current_url.endswith("/agent"))
    form = agent.find_element(By.ID, "open-case")
    assert form.find_element(By.NAME, "call").get_attribute("value") == uid
    Select(agent.find_element(By.ID, "case-class")).select_by_value("important")
    agent.find_element(By.ID, "case-matter").send_keys("water leak in room 12")
    agent.find_element(By.ID, "case-summary").send_keys("second call about it")
    agent.find_element(By.ID, "case-open").click()
    WebDriverWait(agent, 10).until(lambda d: "/cases/202611-0001" in d.current_url)
    assert agent.find_element(By.ID, "case-state").get_attribute("data-state") == "open"
    assert agent.find_element(By.ID, "case-owner").text == "chen"
    agent.save_screenshot(str(artifacts / f"case-opened-{web_backend}.png"))

    lead = browser("en")
    sign_in(lead, web_server.url, "lead")
    WebDriverWait(lead, 10).until(lambda d: d.current_url.endswith("/board"))
    lead.get(web_server.url + "/cases")
    row = lead.find_element(By.CSS_SELECTOR, '#cases tr[data-case="202611-0001"]')
    assert "water leak" in row.text and "chen" in row.text
    counts = lead.find_element(By.CSS_SELECTOR, '#by-class tr[data-class="important"]').text
    assert counts.split()[1:] == ["1", "0", "0"]  # handled, overdue, near (72 h left)
    lead.save_screenshot(str(artifacts / f"case-board-{web_backend}.png"))
