package models

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"sync"
	"time"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// Markdown that members write (documents, comments) is rendered here, once, when it is
// stored: goldmark (GitHub-flavoured) to HTML, then bluemonday's user-content policy, so the
// HTML carries no script, event handler or style. Pages show the stored HTML.
//
// goldmark is quadratic on some inputs (160 KB of unclosed links, "[a](" repeated, took
// 12–24 s; deeply nested quotes take seconds), and a parse cannot be interrupted from
// outside. So every block and inline parser is wrapped to check a deadline each time it is
// called: past MarkdownTimeBudget the parse stops (each call is at most linear, so the
// overrun is one call) and the text is refused as too complex.

// MaxMarkdownBytes bounds any markdown text rendered.
const MaxMarkdownBytes = 256 << 10

// MarkdownTimeBudget bounds the time one rendering may take. Real documents take a few
// milliseconds; the budget leaves room for a busy machine.
const MarkdownTimeBudget = 500 * time.Millisecond

// ErrMarkdownTooComplex is returned for a text that cannot be rendered within the budget.
var ErrMarkdownTooComplex = fmt.Errorf("is too complex to display (formatting that takes more than %s to lay out, such as thousands of unclosed links); simplify it: %w", MarkdownTimeBudget, ErrInvalid)

// RenderMarkdown turns markdown into sanitised HTML, within MaxMarkdownBytes and
// MarkdownTimeBudget. The error wraps ErrInvalid and reads as the end of a sentence about
// the text ("the body …"), for a field error.
func RenderMarkdown(src string) (string, error) {
	if len(src) > MaxMarkdownBytes {
		return "", fmt.Errorf("must be at most %d bytes: %w", MaxMarkdownBytes, ErrInvalid)
	}
	if msg := TextProblem(src); msg != "" {
		return "", fmt.Errorf("%s: %w", msg, ErrInvalid)
	}
	r := markdownRenderer()
	var buf bytes.Buffer
	if err := r.convert(src, &buf, time.Now().Add(MarkdownTimeBudget)); err != nil {
		return "", err
	}
	return r.sanitize.Sanitize(buf.String()), nil
}

// markdownFallback is what a stored text that cannot be rendered shows: its characters,
// escaped, as written.
func markdownFallback(src string) string {
	return `<pre class="markdown-source">` + html.EscapeString(src) + `</pre>`
}

type renderer struct {
	md       goldmark.Markdown
	sanitize *bluemonday.Policy
}

// markdownRenderer is built once; goldmark and bluemonday are safe for concurrent use.
var markdownRenderer = sync.OnceValue(func() *renderer {
	p := &budgetedParser{Parser: parser.NewParser()}
	p.AddOptions(parser.WithBlockParsers(parser.DefaultBlockParsers()...),
		parser.WithInlineParsers(parser.DefaultInlineParsers()...),
		parser.WithParagraphTransformers(parser.DefaultParagraphTransformers()...))
	return &renderer{
		md:       goldmark.New(goldmark.WithParser(p), goldmark.WithExtensions(extension.GFM)),
		sanitize: bluemonday.UGCPolicy(),
	}
})

// errOverBudget stops a parse that ran past its deadline (panicked through goldmark and
// recovered in convert).
var errOverBudget = errors.New("markdown over budget")

// deadlineKey holds a parse's deadline in goldmark's per-parse context.
var deadlineKey = parser.NewContextKey()

func (r *renderer) convert(src string, buf *bytes.Buffer, deadline time.Time) (err error) {
	pc := parser.NewContext()
	pc.Set(deadlineKey, deadline)
	defer func() {
		if v := recover(); v != nil {
			if v != errOverBudget { //nolint:errorlint // our own sentinel, panicked as is
				panic(v)
			}
			err = ErrMarkdownTooComplex
		}
	}()
	if err := r.md.Convert([]byte(src), buf, parser.WithContext(pc)); err != nil {
		return fmt.Errorf("render markdown: %w", err)
	}
	return nil
}

func checkDeadline(pc parser.Context) {
	if d, ok := pc.Get(deadlineKey).(time.Time); ok && time.Now().After(d) {
		panic(errOverBudget)
	}
}

// budgetedParser is goldmark's parser with every block parser, inline parser and paragraph
// transformer wrapped to check the deadline, including those extensions add later.
type budgetedParser struct{ parser.Parser }

func (p *budgetedParser) AddOptions(opts ...parser.Option) {
	for _, opt := range opts {
		cfg := parser.NewConfig()
		opt.SetParserOption(cfg)
		wrapped := []parser.Option{parser.WithASTTransformers(cfg.ASTTransformers...)}
		for _, v := range cfg.BlockParsers {
			wrapped = append(wrapped, parser.WithBlockParsers(util.Prioritized(budgetedBlock{v.Value.(parser.BlockParser)}, v.Priority)))
		}
		for _, v := range cfg.InlineParsers {
			wrapped = append(wrapped, parser.WithInlineParsers(util.Prioritized(budgetedInline{v.Value.(parser.InlineParser)}, v.Priority)))
		}
		for _, v := range cfg.ParagraphTransformers {
			wrapped = append(wrapped, parser.WithParagraphTransformers(util.Prioritized(budgetedParagraph{v.Value.(parser.ParagraphTransformer)}, v.Priority)))
		}
		for name, value := range cfg.Options {
			wrapped = append(wrapped, parser.WithOption(name, value))
		}
		if cfg.EscapedSpace {
			wrapped = append(wrapped, parser.WithEscapedSpace())
		}
		p.Parser.AddOptions(wrapped...)
	}
}

type budgetedBlock struct{ parser.BlockParser }

func (b budgetedBlock) Open(parent ast.Node, r text.Reader, pc parser.Context) (ast.Node, parser.State) {
	checkDeadline(pc)
	return b.BlockParser.Open(parent, r, pc)
}

func (b budgetedBlock) Continue(n ast.Node, r text.Reader, pc parser.Context) parser.State {
	checkDeadline(pc)
	return b.BlockParser.Continue(n, r, pc)
}

func (b budgetedBlock) SetOption(name parser.OptionName, value any) {
	if so, ok := b.BlockParser.(parser.SetOptioner); ok {
		so.SetOption(name, value)
	}
}

type budgetedInline struct{ parser.InlineParser }

func (b budgetedInline) Parse(parent ast.Node, r text.Reader, pc parser.Context) ast.Node {
	checkDeadline(pc)
	return b.InlineParser.Parse(parent, r, pc)
}

func (b budgetedInline) CloseBlock(parent ast.Node, r text.Reader, pc parser.Context) {
	if cb, ok := b.InlineParser.(parser.CloseBlocker); ok {
		checkDeadline(pc)
		cb.CloseBlock(parent, r, pc)
	}
}

func (b budgetedInline) SetOption(name parser.OptionName, value any) {
	if so, ok := b.InlineParser.(parser.SetOptioner); ok {
		so.SetOption(name, value)
	}
}

type budgetedParagraph struct{ parser.ParagraphTransformer }

func (b budgetedParagraph) Transform(n *ast.Paragraph, r text.Reader, pc parser.Context) {
	checkDeadline(pc)
	b.ParagraphTransformer.Transform(n, r, pc)
}

func (b budgetedParagraph) SetOption(name parser.OptionName, value any) {
	if so, ok := b.ParagraphTransformer.(parser.SetOptioner); ok {
		so.SetOption(name, value)
	}
}
