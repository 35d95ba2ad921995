"""Pure HL7 v2 → worklist mapping: parsed segments in, plain dataclasses of field values out.

The functions take any message object with `.first(name)`, `.all(name)` and segments with
`.get(field, component, subcomponent, repetition)` (broker.hl7.parser.Message); nothing here
touches the database or the network.
"""
