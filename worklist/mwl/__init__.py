"""The Modality Worklist query: a C-FIND identifier → one ORM query → one response Dataset per step.

values    parse DICOM matching values (dates, times, ranges, wildcards, UID lists)
matching  one pure function per PS3.4 C.2.2.2 matching type, each returning a `Q`
keys      the worklist attributes the broker knows: where each lives and how it is matched
plan      identifier → list of constraints (one per matching key) plus the defaults
query     run_query(): the plan as one queryset, a large answer loaded page by page
response  step → the response Dataset (exactly the requested keys)
charset   per-AE character set of responses, with transliteration
explain   explain_exclusion(): which key keeps a step out of a query's answer
"""
