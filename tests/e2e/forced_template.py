"""A user diagnostics template whose schema forces one finding on line 1.

With JSON-schema constrained decoding even a random model must produce exactly that shape,
so tests can rely on a finding existing without a trained model.
"""

FORCED = '''name = "diagnostics.forced"
feature = "diagnostics"
description = "Test template: exactly one finding, on line 1."
output = "json"
system = "Report problems as JSON."
template = """{{ numbered_code }}"""

[params]
max_new_tokens = 160

[variables]
numbered_code = "str"

[schema]
type = "object"
additionalProperties = false
required = ["findings"]

[schema.properties.findings]
type = "array"
minItems = 1
maxItems = 1

[schema.properties.findings.items]
type = "object"
additionalProperties = false
required = ["line", "end_line", "severity", "rule", "message"]

[schema.properties.findings.items.properties.line]
const = 1

[schema.properties.findings.items.properties.end_line]
const = 1

[schema.properties.findings.items.properties.severity]
const = "warning"

[schema.properties.findings.items.properties.rule]
const = "CWE-78"

[schema.properties.findings.items.properties.message]
type = "string"
pattern = "^[a-z]{1,12}$"
'''
