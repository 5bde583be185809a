from tests.conftest import path_of


def test_create_invoice_and_open_its_page(api, client):
    inv = api.create()
    assert inv["status"] == "open"
    page = client.get(path_of(inv["pay_url"]))
    assert page.status_code == 200
    assert "INV-0001" in page.get_data(as_text=True)
