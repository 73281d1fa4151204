;;; eglot_client.el --- batch Emacs + eglot session for test_emacs.py  -*- lexical-binding: t -*-
;; Env: CT_ROOT (the checkout), CT_CMD (server command, JSON), CT_FILE, CT_OUT, CT_ACTION.

(dolist (dir (file-expand-wildcards "/usr/share/emacs/site-lisp/elpa/*"))
  (add-to-list 'load-path dir))
(load (expand-file-name "editors/emacs/codetune-eglot.el" (getenv "CT_ROOT")) nil t)
(require 'json)
(require 'seq)

(setq codetune-lsp-command (append (json-parse-string (getenv "CT_CMD")) nil)
      eglot-confirm-server-initiated-edits nil  ; no y-or-n-p in batch
      jsonrpc-default-request-timeout 90
      eglot-sync-connect 60
      eglot-connect-timeout 60)

(defvar ct-out (make-hash-table :test 'equal))
(defun ct-put (key value) (puthash key value ct-out))
(defun ct-save ()
  (with-temp-file (getenv "CT_OUT") (insert (json-encode ct-out))))
(defun ct-step (name) (ct-put "step" name) (ct-save))
(defun ct-wait (predicate seconds)
  "Process events until PREDICATE holds or SECONDS pass."
  (let ((deadline (+ (float-time) seconds)))
    (while (and (not (funcall predicate)) (< (float-time) deadline))
      (accept-process-output nil 0.1))
    (funcall predicate)))

(ct-put "emacs" emacs-version)
(ct-put "eglot" (or (and (fboundp 'eglot--version) (eglot--version))
                    (let ((lib (locate-library "eglot")))
                      (and lib (file-name-nondirectory (directory-file-name
                                                        (file-name-directory lib)))))))
(ct-put "errors" [])
(condition-case err
    (progn
      (ct-step "connect")
      (find-file (getenv "CT_FILE"))
      (ct-put "mode" (symbol-name major-mode))
      (apply #'eglot (eglot--guess-contact))
      (unless (ct-wait #'eglot-current-server 60)
        (error "eglot did not connect"))
      (let ((server (eglot-current-server))
            (uri (eglot--path-to-uri buffer-file-name)))
        (ct-put "server" (plist-get (eglot--server-info server) :name))
        (ct-put "flymake" (and (bound-and-true-p flymake-mode) t))

        ;; Diagnostics pushed by the server, shown through flymake.
        (ct-step "diagnostics")
        (ct-wait (lambda () (flymake-diagnostics)) 90)
        (ct-put "diagnostics"
                (vconcat
                 (mapcar (lambda (d)
                           (list :line (line-number-at-pos (flymake-diagnostic-beg d))
                                 :type (symbol-name (flymake-diagnostic-type d))
                                 :text (flymake-diagnostic-text d)))
                         (flymake-diagnostics))))

        ;; Completion through eglot's completion-at-point function.
        (ct-step "completion")
        (goto-char (point-min))
        (forward-line 4)
        (end-of-line)
        (let* ((capf (eglot-completion-at-point))
               (candidates (all-completions "" (nth 2 capf))))
          (ct-put "completions" (length candidates)))

        ;; A code action: eglot 1.9 cannot resolve, so the server sends plain Commands,
        ;; runs the action and applies its edit with workspace/applyEdit.
        (ct-step "code action")
        (goto-char (point-min))
        (forward-line 4)
        (forward-char 6)
        (let* ((actions (eglot-code-actions (point) (point)))
               (chosen (seq-find (lambda (a) (equal (plist-get a :title) (getenv "CT_ACTION")))
                                 actions))
               (before (buffer-string)))
          (ct-put "titles" (vconcat (mapcar (lambda (a) (plist-get a :title)) actions)))
          (unless chosen (error "no action %s" (getenv "CT_ACTION")))
          (ct-put "command" (plist-get chosen :command))
          (ct-step "run action")
          (ct-put "result" (eglot--read-execute-code-action (list chosen) server "any"))
          (ct-put "changed" (not (equal before (buffer-string)))))

        ;; The server saw the edit (eglot sent didChange).
        (ct-step "status")
        ;; eglot sends didChange from an idle timer, and batch Emacs is never idle.
        (eglot--signal-textDocument/didChange)
        (let ((status (jsonrpc-request server :workspace/executeCommand
                                       `(:command "codetune.status" :arguments [,uri]))))
          (ct-put "server_sha256" (plist-get status :sha256))
          (ct-put "buffer_sha256"
                  (secure-hash 'sha256 (encode-coding-string (buffer-string) 'utf-8))))
        (ct-step "done")
        (ignore-errors (eglot-shutdown server))))
  (error (ct-put "errors" (vector (format "%S" err)))))
(ct-save)
(kill-emacs 0)
