;;; codetune-eglot.el --- codetune-lsp through eglot  -*- lexical-binding: t -*-

;; Works with eglot 1.9 (Emacs 28 + elpa-eglot) and the eglot built into Emacs 29+.
;;
;;   (add-to-list 'load-path "/path/to/codetune/editors/emacs")
;;   (require 'codetune-eglot)
;;   (add-hook 'python-mode-hook #'eglot-ensure)

;;; Code:

(require 'eglot)

(defgroup codetune nil
  "The codetune-lsp AI language server."
  :group 'tools)

(defcustom codetune-lsp-command '("codetune-lsp")
  "Program and arguments that start the server (it speaks LSP on stdio)."
  :type '(repeat string))

(defcustom codetune-modes '(python-mode python-ts-mode)
  "Major modes whose buffers codetune-lsp manages.
Eglot runs one server per buffer, so codetune replaces any other server in these modes."
  :type '(repeat symbol))

(defcustom codetune-settings nil
  "Non-privileged codetune settings, as a plist, sent as initializationOptions.
For example (:features (:completion (:mode \"classic\"))).  `codetune-lsp config show'
lists the keys; models and store.url stay in the user config file."
  :type 'plist)

(defun codetune--contact (&optional _interactive)
  "The eglot contact for codetune-lsp: the command, and the settings if any."
  (append codetune-lsp-command
          (when codetune-settings
            (list :initializationOptions codetune-settings))))

(add-to-list 'eglot-server-programs (cons codetune-modes #'codetune--contact))

(defun codetune-status ()
  "Show the codetune-lsp status for the current buffer."
  (interactive)
  (message "%S" (jsonrpc-request (eglot--current-server-or-lose)
                                 :workspace/executeCommand
                                 `(:command "codetune.status"
                                   :arguments [,(eglot--path-to-uri buffer-file-name)]))))

(provide 'codetune-eglot)
;;; codetune-eglot.el ends here
