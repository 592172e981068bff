// The expr code view: a CodeMirror 6 editor on every <textarea data-code>, kept in sync
// with the textarea so forms submit without JavaScript-specific code. As the member types,
// each stage is compiled on the server (POST /c/<community>/compile, which writes nothing)
// and its error is marked where expr says it is, with the message on hover and in the
// gutter, before anything is submitted.
import { EditorView, basicSetup } from "codemirror";
import { linter, lintGutter } from "@codemirror/lint";

// CodeMirror injects its styles as <style> elements; the Content-Security-Policy admits
// them by the page's nonce (handlers/middleware.go).
const nonce = document.querySelector('meta[name="csp-nonce"]')?.content || "";

const community = location.pathname.match(/^\/c\/[^/]+/);
const compileURL = community ? community[0] + "/compile" : null;

function csrfToken() {
  try {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
  } catch {
    return "";
  }
}

// stageOf reads the stage a textarea holds from its name: "check", or "code.0.check" in the builder.
function stageOf(area) {
  const parts = area.name.split(".");
  return parts[parts.length - 1];
}

// compileLinter asks the server to compile the stage and turns its problems into
// diagnostics; a problem without a position marks the whole program. The messages are also
// written under the editor (a polite live region), for those who cannot hover a mark.
function compileLinter(area, note) {
  return linter(
    async (view) => {
      const source = view.state.doc.toString();
      const body = new URLSearchParams({ stage: stageOf(area), source });
      let answer;
      try {
        const resp = await fetch(compileURL, {
          method: "POST",
          headers: { "X-CSRF-Token": csrfToken() },
          body,
          credentials: "same-origin",
        });
        if (!resp.ok) return [];
        answer = await resp.json();
      } catch {
        return []; // offline: the server checks again when the form is submitted
      }
      if (view.state.doc.toString() !== source) return [];
      const doc = view.state.doc;
      const problems = answer.problems || [];
      note.textContent = problems.map((p) => (p.line > 0 ? `Line ${p.line}, column ${p.column}: ` : "") + p.message).join(" ");
      return problems.map((p) => {
        let from = 0;
        let to = doc.length;
        if (p.line > 0 && p.line <= doc.lines) {
          const line = doc.line(p.line);
          from = Math.min(line.from + Math.max(p.column - 1, 0), line.to);
          to = Math.min(from + 1, line.to);
          if (to === from) {
            from = Math.max(line.from, from - 1);
            to = Math.max(to, from + 1);
          }
        }
        const where = p.line > 0 ? `line ${p.line}, column ${p.column}: ` : "";
        return { from, to: Math.max(to, from), severity: "error", message: where + p.message };
      });
    },
    { delay: 400 },
  );
}

for (const area of document.querySelectorAll("textarea[data-code]")) {
  const extensions = [
    basicSetup,
    EditorView.cspNonce.of(nonce),
    EditorView.lineWrapping,
    EditorView.updateListener.of((u) => {
      if (u.docChanged) {
        area.value = u.state.doc.toString();
        area.dispatchEvent(new Event("input", { bubbles: true }));
      }
    }),
    EditorView.contentAttributes.of({ "aria-label": area.getAttribute("aria-label") || area.name }),
  ];
  const note = document.createElement("small");
  note.className = "field-error code-problem";
  note.setAttribute("aria-live", "polite");
  if (compileURL) extensions.push(compileLinter(area, note), lintGutter());
  const view = new EditorView({ doc: area.value, extensions });
  area.hidden = true;
  area.insertAdjacentElement("afterend", view.dom);
  view.dom.insertAdjacentElement("afterend", note);
}
