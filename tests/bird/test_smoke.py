def test_send_and_deliver(provider_sim):
    msg = provider_sim.send_sms("+15551230000", "hi")
    assert msg["status"] == "accepted"
    provider_sim.advance(10)
    assert provider_sim.get_message(msg["id"])["status"] == "delivered"
