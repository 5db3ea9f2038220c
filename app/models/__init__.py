"""Models and their versions: who owns each name (``ownership``), what each version reported
and scored (``versions``), and how a prediction is read from an output (``predictions``)."""
