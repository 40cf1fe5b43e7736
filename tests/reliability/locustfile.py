"""Locust users for the bounded loopback load test (tests/reliability/test_load.py)."""

import random

from locust import FastHttpUser, constant, task

BODY = {"total_spent": 45.5, "total_tracks_bought": 15, "genre_spending_ratio": 0.6}


class Client(FastHttpUser):
    wait_time = constant(0)

    @task(8)
    def predict(self) -> None:
        body = {
            "total_spent": round(random.uniform(0, 500), 2),
            "total_tracks_bought": random.randint(0, 200),
            "genre_spending_ratio": random.random(),
        }
        self.client.post("/api/predict-genre", json=body)

    @task(1)
    def spec_example(self) -> None:
        self.client.post("/api/predict-genre", json=BODY)

    @task(1)
    def health(self) -> None:
        self.client.get("/api/health")
