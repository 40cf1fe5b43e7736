"""The original system's entry point, kept so its documented command still works:

    python app.py --app TrainModel --model-type genre

It trains exactly like ``python -m genre_model train`` (settings from the environment,
``MODELO_GENERO_ENTRENADO`` for a local model path).
"""

import argparse
import sys

sys.path.insert(0, "layers/genre_model/python")  # works from a plain checkout, no install needed

from genre_model.cli import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--app", required=True, choices=["TrainModel"])
    parser.add_argument("--model-type", required=True, choices=["genre"])
    parser.parse_args()
    sys.exit(main(["train"]))
