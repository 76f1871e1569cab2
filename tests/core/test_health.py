def test_healthz_answers_without_touching_the_database(client):
    # No `db` fixture: pytest-django raises on any database access here.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_makes_one_database_round_trip(client, db, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
