" Headless Vim + ALE session for test_vim_ale.py (run with vim -Nu NONE -es -S this).
" Env: CT_ALE (ALE's folder), CT_CONFIG (editors/vim/codetune.vim), CT_SERVER (the server
" program), CT_FILE, CT_OUT.
set nocompatible
let g:ale_completion_enabled = 1
let g:ale_lint_on_enter = 0
let g:ale_lint_on_text_changed = 'never'
let g:ale_set_loclist = 1
let g:ale_set_lists_synchronously = 1
let g:ale_linters = {'python': ['codetune']}
let g:ale_echo_cursor = 0
let g:ale_set_signs = 0
let g:ale_set_highlights = 0
let g:codetune_lsp_executable = $CT_SERVER
execute 'set runtimepath^=' . fnameescape($CT_ALE)
filetype plugin on
runtime plugin/ale.vim
execute 'source ' . fnameescape($CT_CONFIG)

let s:out = {'errors': [], 'vim': v:version, 'ale_3_3': ale#Has('ale-3.3.0')}

function! s:Save() abort
    call writefile([json_encode(s:out)], $CT_OUT)
endfunction

function! s:Step(name) abort
    let s:out.step = a:name
    call s:Save()
endfunction

function! s:Wait(condition, seconds) abort
    let l:deadline = reltimefloat(reltime()) + a:seconds
    while !eval(a:condition) && reltimefloat(reltime()) < l:deadline
        sleep 100m
    endwhile
    return eval(a:condition)
endfunction

let s:items = v:null
function! s:Completed(items) abort
    let s:items = a:items
endfunction

try
    call s:Step('open')
    execute 'edit ' . fnameescape($CT_FILE)
    let s:buffer = bufnr('')
    let s:out.filetype = &filetype
    let s:out.linters = map(ale#linter#Get(&filetype), 'v:val.name')

    " Diagnostics: ALE starts the server, opens the document, and files what is pushed.
    call s:Step('diagnostics')
    ALELint
    call s:Wait('!empty(ale#engine#GetLoclist(s:buffer))', 90)
    let s:out.loclist = map(copy(ale#engine#GetLoclist(s:buffer)),
    \   '{"lnum": v:val.lnum, "type": v:val.type, "code": get(v:val, "code", ""),'
    \ . ' "text": v:val.text, "linter": v:val.linter_name}')
    let s:out.vim_loclist = len(getloclist(0))

    " Completion: ALE only shows results in insert mode, which a headless Vim never
    " enters, so its mode check is answered as insert mode for this request (as ALE's own
    " test suite does); the request, the parsing and the filtering are ALE's.
    call s:Step('completion')
    call cursor(5, len(getline(5)) + 1)
    function! ale#util#Mode(...) abort
        return 'i'
    endfunction
    call ale#completion#GetCompletions('ale-callback', {
    \   'callback': function('s:Completed'),
    \   'line': 5, 'column': len(getline(5)) + 1, 'prefix': '',
    \})
    call s:Wait('s:items isnot v:null', 60)
    let s:out.completions = s:items is v:null ? -1 : len(s:items)
    let s:out.completion_words = s:items is v:null ? [] : map(copy(s:items), 'v:val.word')

    " A code action: ALE lists the server's Commands and asks for a number with
    " ale#util#Input (answered here, as ALE's tests do); the server runs the action and
    " sends the edit with workspace/applyEdit, which ALE applies to the buffer.
    call s:Step('code action')
    let s:before = getline(1, '$')
    function! ale#util#Input(message, default, ...) abort
        let s:menu = a:message
        let l:lines = split(a:message, "\n")
        let l:wanted = filter(copy(l:lines), 'v:val =~# ''\V' . escape($CT_ACTION, '\') . '''')
        return empty(l:wanted) ? '' : matchstr(l:wanted[0], '^\d\+')
    endfunction
    call cursor(5, 7)
    ALECodeAction
    call s:Wait('getline(1, "$") != s:before', 60)
    let s:out.menu = get(s:, 'menu', '')
    let s:out.changed = getline(1, '$') != s:before
    call s:Step('done')
catch
    call add(s:out.errors, v:exception . ' @ ' . v:throwpoint)
endtry
call s:Save()
qall!
