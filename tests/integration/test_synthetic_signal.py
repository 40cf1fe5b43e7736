"""The synthetic store's planted signal, seen by a trained forest: the favourite's spending share,
price mix and country carry it, the track count does not."""

from __future__ import annotations

import dataclasses

from devtools.synthetic import PROFILES, TRACKS
from genre_model.config import ForestSettings
from genre_model.train.fit import train


def test_track_count_carries_no_signal(chinook_like) -> None:
    """Track counts are drawn whatever the favourite: a forest on them alone learns nothing."""
    _, _, ds = chinook_like
    by_genre = ds.customers.groupby("genre")["total_tracks_bought"].mean()
    assert (by_genre - TRACKS).abs().max() < 0.5
    only_tracks = dataclasses.replace(ds, feature_columns=("total_tracks_bought",))
    cv = train(only_tracks, ForestSettings(n_estimators=20)).report["cross_validation"]
    assert cv["model"]["accuracy"]["mean"] <= cv["baseline"]["accuracy"]["mean"] + 0.01


def test_the_signal_is_in_spend_share_price_mix_and_country(chinook_like) -> None:
    """What is planted: the favourite's share of spending, the video price, the home country."""
    _, _, ds = chinook_like
    frame = ds.customers
    ratio = frame.groupby("genre")["genre_spending_ratio"].mean()
    assert ratio["Classical"] > 0.8 > 0.3 > ratio["Jazz"]
    spent = frame.groupby("genre")["total_spent"].mean()
    assert spent["TV Shows"] > spent.drop("TV Shows").max() + 5  # $1.99 favourites
    for profile in PROFILES:
        fans = frame[frame["genre"] == profile.genre]
        assert (fans["country"] == profile.home).mean() >= 0.45
    report = train(ds, ForestSettings(n_estimators=30)).report
    cv = report["cross_validation"]
    assert cv["model"]["accuracy"]["mean"] - cv["baseline"]["accuracy"]["mean"] >= 0.15
