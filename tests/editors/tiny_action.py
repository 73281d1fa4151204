"""A user code-action template with a short generation, so editor tests stay fast.

The built-in actions generate up to 1024 tokens; with a random tiny model that is seconds
of CPU per action. This one is the docstring action with 32 new tokens and its own title.
Its answer is read as docstring text and put into the function by the server, so even a
random model's words make a valid edit: editor tests get an edit to apply every time.
"""

TITLE = "AI: Tiny edit (test)"

TINY_EDIT = f'''name = "code_action.tiny_edit"
feature = "code_action"
description = "Test template: document the function at the cursor, briefly."
output = "docstring"
system = "Reply with the docstring only."
template = """Document this {{{{ language }}}} code from {{{{ file_name }}}}.

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
