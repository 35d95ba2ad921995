"""The Modality Worklist query: a C-FIND identifier → one ORM query → one response Dataset per step.

values    parse DICOM matching values (dates, times, ranges, wildcards, UID lists)
matching  one pure function per PS3.4 C.2.2.2 matching type, each returning a `Q`
keys      the worklist attributes the broker knows: where each lives and how it is matched
plan      identifier → list of constraints (one per matching key) plus the defaults
query     run_query(): the plan as one queryset, a large answer loaded page by page
response  step → the response Dataset (exactly the requested keys)
charset   the character set of responses (per AE, else the query's), with transliteration
iso2022   text → bytes under ISO 2022 code extensions (PS3.5 6.1.2.5)
explain   explain_exclusion(): which key keeps a step out of a query's answer
"""
