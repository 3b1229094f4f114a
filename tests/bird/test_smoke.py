def test_send_and_deliver(provider_sim):
    msg = provider_sim.send_sms("+15551230000", "hi")
    assert msg["status"] == "accepted"
    provider_sim.advance(10)
    assert provider_sim.get_message(msg["id"])["status"] == "delivered"


def test_concurrent_first_sends_to_one_number_share_one_contact(provider_sim):
    """Sixteen sends racing to a number no contact has yet: every one is accepted and they share one contact (on
    PostgreSQL the transactions run side by side, so the second insert of the contact must not fail the send)."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx2 as httpx

    number = "+15557770123"
    body = {"receiver": {"contacts": [{"identifierValue": number}]}, "body": {"type": "text", "text": {"text": "x"}}}
    url = provider_sim.url + provider_sim.messages_path()

    def send(_: int) -> httpx.Response:
        with httpx.Client(timeout=30) as client:
            return client.post(url, json=body, headers=provider_sim.bird_headers)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(send, range(16)))
    assert [a.status_code for a in answers] == [202] * 16, [a.text for a in answers if a.status_code != 202][:2]
    contacts = {a.json()["receiver"]["contacts"][0]["id"] for a in answers}
    assert len(contacts) == 1
