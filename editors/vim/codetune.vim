" codetune-lsp for Vim through ALE (https://github.com/dense-analysis/ale), 3.3 or later.
"
" Source this file after ALE is loaded, e.g. in ~/.vim/after/plugin/codetune.vim:
"
"   let g:ale_completion_enabled = 1                " before ALE loads: AI completions
"   let g:codetune_lsp_executable = 'codetune-lsp'  " or an absolute path
"   let g:codetune_filetypes = ['python']
"   let g:codetune_settings = {'features': {'completion': {'mode': 'classic'}}}
"
" g:codetune_settings holds non-privileged codetune keys (`codetune-lsp config show`);
" they are sent as initializationOptions and with workspace/didChangeConfiguration.

function! CodetuneProjectRoot(buffer) abort
    let l:dir = fnamemodify(bufname(a:buffer), ':p:h')

    for l:marker in ['.git', '.codetune']
        let l:found = finddir(l:marker, l:dir . ';')

        if !empty(l:found)
            return fnamemodify(l:found, ':p:h:h')
        endif
    endfor

    for l:marker in ['pyproject.toml', 'setup.py', 'package.json']
        let l:found = findfile(l:marker, l:dir . ';')

        if !empty(l:found)
            return fnamemodify(l:found, ':p:h')
        endif
    endfor

    return l:dir
endfunction

function! CodetuneSettings(buffer) abort
    return get(g:, 'codetune_settings', {})
endfunction

for s:filetype in get(g:, 'codetune_filetypes', ['python'])
    call ale#linter#Define(s:filetype, {
    \   'name': 'codetune',
    \   'lsp': 'stdio',
    \   'executable': {b -> get(g:, 'codetune_lsp_executable', 'codetune-lsp')},
    \   'command': '%e',
    \   'project_root': function('CodetuneProjectRoot'),
    \   'initialization_options': function('CodetuneSettings'),
    \   'lsp_config': {b -> {'codetune': CodetuneSettings(b)}},
    \})
endfor
