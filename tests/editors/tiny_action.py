"""A user code-action template with a short generation, so editor tests stay fast.

The built-in actions generate up to 1024 tokens; with a random tiny model that is seconds
of CPU per action. This one is the docstring action with 32 new tokens and its own title.
"""

TITLE = "AI: Tiny edit (test)"

TINY_EDIT = f'''name = "code_action.tiny_edit"
feature = "code_action"
description = "Test template: rewrite the function at the cursor, briefly."
output = "edit"
system = "Reply with the complete code in one fenced block."
template = """Rewrite this {{{{ language }}}} code from {{{{ file_name }}}}.

```{{{{ language }}}}
{{{{ code }}}}
```"""

[params]
temperature = 0.0
max_new_tokens = 32

[variables]
code = "str"
language = "str"
file_name = "str"

[action]
title = "{TITLE}"
kind = "refactor.rewrite"
languages = ["python"]
'''
