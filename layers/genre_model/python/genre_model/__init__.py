"""Music-genre prediction for Chinook music stores: training, artifacts and numpy inference."""
