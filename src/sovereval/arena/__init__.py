"""User evaluation: blind pairwise battles, Likert ratings, panel quotas and ratings.

Pure logic only (arrays and records in, records out; randomness passed in as ``rng``):

- ``panel``: panelists, marginal quotas, quota checks (chi-square), raking weights;
- ``sampling``: joint stratum targets by capped raking and stratified invitations;
- ``pairing``: equal-exposure pair schedules and the frozen roster of a round;
- ``bt``: Bradley–Terry on deduplicated battles, batched bootstrap, intervals and rank bounds;
- ``style``: ratings with answer length and formatting controlled;
- ``likert``: 1–5 means per model and criterion with bootstrap intervals;
- ``integrity``: daily caps, rate limits, duplicate rejection, the SPRT outlier screen;
- ``leaks``: answers that reveal a model's identity;
- ``points``: ratings to the category's points under the RuleSet's mapping spec;
- ``simulate``: seeded panels and votes from known strengths (tests and the demo).
"""
