"""nmflab.theory: the non-negative rank and stability studies (to come).

Planned: certified bounds on the non-negative rank with their evidence, the
rank-gap gallery with literature values, and consensus / cophenetic stability
studies over ranks and restarts. ``theory`` may import ``nmflab``; ``nmflab``
never imports ``theory``.
"""
