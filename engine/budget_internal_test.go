package engine

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"policykit/models"
)

// budgetWorld is a community of n members (every role held by a tenth of them) in which a
// program runs with n votes cast: the size at which the budgets are published.
func budgetWorld(n int) *communityView {
	v := &communityView{community: &models.Community{Name: "Budget", Slug: "budget"}, roles: map[string][]int{}, left: map[int]bool{}}
	for i := 1; i <= n; i++ {
		v.members = append(v.members, i)
	}
	for _, role := range []string{"Moderator", "Dictator", "Member", "Jury", "Admin", "Council"} {
		v.roles[role] = v.members[:n/10]
	}
	return v
}

// runCost runs the stages of a policy in the order the engine does on a proposal with every
// member voting, and returns the most steps and bytes any stage used.
func runCost(t *testing.T, f models.PolicyFields, view *communityView) (steps, built int64) {
	t.Helper()
	progs, err := Compile(SourcesOf(&f))
	if err != nil {
		t.Fatalf("%s: %v", f.Name, err)
	}
	a := &models.Action{ID: 1, Type: "test.rename_channel", Kind: f.Kind, Platform: "test", Origin: models.OriginPlatform,
		Params: map[string]any{"channel": "C1", "name": "x", "text": "hello", "candidates": []any{
			map[string]any{"label": "A"}, map[string]any{"label": "B"}, map[string]any{"label": "C"}}}}
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	p := &models.Proposal{ID: 1, CreatedAt: now, Seed: 42, Data: map[string]any{}}
	v := &models.PolicyVersion{PolicyFields: f}
	init := MemberInfo{ID: 1, Name: "Ada", Roles: []string{"Member"}}
	var vs []castVote
	run := func(stage string, at time.Time) {
		ev := newEvaluation(at, a, p, v, view, init, vs)
		if _, err := ev.run(stage, progs.programs[stage]); err != nil {
			t.Errorf("%s %s: %v", f.Name, stage, err)
		}
		p.Data, p.Ballot = ev.data, ev.ballot
		steps, built = max(steps, ev.spent.steps), max(built, ev.spent.built)
	}
	for _, stage := range []string{StageFilter, StageInitialize, StageNotify} {
		run(stage, now)
	}
	if b := p.Ballot; b != nil {
		for i, id := range b.Eligible {
			vs = append(vs, castVote{member: int(id), value: sampleVote(b, i)})
		}
	}
	for _, at := range []time.Time{now.Add(time.Hour), now.Add(95 * time.Hour), now.Add(30 * 24 * time.Hour)} {
		run(StageCheck, at)
	}
	run(StagePass, now)
	run(StageFail, now)
	return steps, built
}

func sampleVote(b *models.Ballot, i int) any {
	switch b.Kind {
	case BallotYesNo:
		return []string{"yes", "no", "abstain"}[i%3]
	case BallotConsensus:
		return []string{"agree", "abstain", "disagree"}[i%3]
	case BallotChoice:
		return b.Options[i%len(b.Options)]
	case BallotApproval, BallotRanking:
		out := []any{}
		for j := range b.Options {
			out = append(out, b.Options[(i+j)%len(b.Options)])
		}
		return out
	case BallotScore:
		m := map[string]any{}
		for j, o := range b.Options {
			m[o] = float64((i + j) % (b.Max + 1))
		}
		return m
	}
	return nil
}

// goldenPolicies reads the block programs' golden files (engine/blocks/testdata): the code
// of every kit policy and example block program, stage by stage.
func goldenPolicies(t *testing.T) []models.PolicyFields {
	t.Helper()
	files, err := filepath.Glob("blocks/testdata/*.golden")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	var out []models.PolicyFields
	for _, name := range files {
		fh, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		var cur *models.PolicyFields
		var section string
		src := map[string]*strings.Builder{}
		flush := func() {
			if cur == nil {
				return
			}
			get := func(s string) string {
				if b := src[s]; b != nil {
					return strings.TrimSpace(b.String())
				}
				return ""
			}
			cur.FilterSrc, cur.InitSrc, cur.NotifySrc = get("filter"), get("initialize"), get("notify")
			cur.CheckSrc, cur.PassSrc, cur.FailSrc = get("check"), get("pass"), get("fail")
			out = append(out, *cur)
			src = map[string]*strings.Builder{}
		}
		kind := "platform"
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "kind: "):
				kind = strings.TrimPrefix(line, "kind: ")
			case strings.HasPrefix(line, "# stage "):
				flush()
				cur = &models.PolicyFields{Kind: kind, Name: filepath.Base(name) + " " + line}
			case strings.HasPrefix(line, "## "):
				section = strings.TrimPrefix(line, "## ")
				src[section] = &strings.Builder{}
			case src[section] != nil:
				src[section].WriteString(line + "\n")
			}
		}
		flush()
		fh.Close()
	}
	return out
}

// TestLegitimateProgramsFarInsideBudget: every kit policy, every example block program and
// the seed's jury use under a tenth of the step and allocation budgets in a community of
// 1,000 members who all voted.
func TestLegitimateProgramsFarInsideBudget(t *testing.T) {
	policies := append(goldenPolicies(t), models.PolicyFields{Kind: "platform", Name: "seed jury",
		InitSrc:   `set("jury", sample(members(), 3))`,
		NotifySrc: `start_vote("yes_no", {among: get("jury")}); notify(get("jury"), "Please deliberate")`,
		CheckSrc:  `let jury = get("jury"); if yes(jury) >= 2 { PASSED } else if proposal.age > duration("48h") { FAILED } else { PENDING }`,
		PassSrc:   `execute(); post("Renamed by jury")`, FailSrc: `post("The jury said no")`})
	if len(policies) < 10 {
		t.Fatalf("read only %d policies from the golden files", len(policies))
	}
	for _, f := range policies {
		steps, built := runCost(t, f, budgetWorld(1000))
		t.Logf("%-60s %7d steps %9d bytes", f.Name, steps, built)
		if steps > maxSteps/10 || built > maxBuilt/10 {
			t.Errorf("%s used %d steps and %d bytes: not far inside the budget (%d, %d)", f.Name, steps, built, maxSteps, maxBuilt)
		}
	}
}

// FuzzBudget generates programs of nested loops and growing values from a few choices and
// runs them: every run ends within the budgets (steps, bytes, time), whatever it does,
// either with its result or with an error; none panics.
func FuzzBudget(f *testing.F) {
	f.Add(uint8(3), uint16(200), uint8(0), uint8(1), uint8(2))
	f.Add(uint8(2), uint16(1000), uint8(4), uint8(3), uint8(0))
	f.Add(uint8(1), uint16(16), uint8(1), uint8(5), uint8(6))
	f.Add(uint8(3), uint16(500), uint8(7), uint8(8), uint8(9))
	view := budgetWorld(1000)
	f.Fuzz(func(t *testing.T, depth uint8, n uint16, a, b, c uint8) {
		src := fuzzProgram(int(depth%5), int(n), []uint8{a, b, c})
		progs, err := Compile(Sources{Filter: src})
		if err != nil {
			return // refused at compile time: within budget by definition
		}
		ev := newEvaluation(time.Now(), &models.Action{Params: map[string]any{}}, &models.Proposal{Data: map[string]any{}},
			&models.PolicyVersion{}, view, MemberInfo{}, nil)
		start := processCPU()
		_, _ = ev.run(StageFilter, progs.programs[StageFilter])
		if d := processCPU() - start; d > 20*maxStageTime {
			t.Fatalf("%s used %s of CPU (budget %s)", src, d, maxStageTime)
		}
		if ev.spent.steps > maxSteps+maxSteps/4 || ev.spent.built > 2*maxBuilt {
			t.Fatalf("%s used %d steps and %d bytes", src, ev.spent.steps, ev.spent.built)
		}
	})
}

// fuzzProgram builds a filter from nested loops over ranges and members, around a body that
// grows text or lists.
func fuzzProgram(depth, n int, picks []uint8) string {
	bodies := []string{
		`#acc + #acc`, `repeat("ab", %d)`, `join(map(1..%d, "xy"), repeat("-", %d))`, `# in members()`,
		`toJSON([members(), members(), members()])`, `replace(repeat("a", %d), "", "bb")`, `split(repeat("a,", %d), ",")`,
		`string(1..%d)`, `[1..%d, 1..%d, 1..%d]`, `sort(1..%d)`,
	}
	outer := []string{"map", "filter", "all", "any", "count", "sum", "none", "one"}
	body := bodies[int(picks[0])%len(bodies)]
	body = strings.ReplaceAll(body, "%d", fmt.Sprint(n))
	if strings.Contains(body, "#acc") {
		return fmt.Sprintf(`len(toJSON(reduce(1..%d, %s, repeat("a", %d)))) > 0`, max(depth*8, 1), body, n)
	}
	expr := fmt.Sprintf("len(toJSON(%s)) > 0", body)
	for i := 0; i < depth; i++ {
		fn := outer[int(picks[(i+1)%len(picks)]+uint8(i))%len(outer)]
		list := fmt.Sprintf("1..%d", n)
		if picks[2]%2 == 1 {
			list = "members()"
		}
		switch fn {
		case "map", "filter":
			expr = fmt.Sprintf("len(%s(%s, %s)) >= 0", fn, list, expr)
		case "count":
			expr = fmt.Sprintf("count(%s, %s) >= 0", list, expr)
		case "sum":
			expr = fmt.Sprintf("sum(%s, %s ? 1 : 0) >= 0", list, expr)
		default:
			expr = fmt.Sprintf("%s(%s, %s)", fn, list, expr)
		}
	}
	return expr
}

// FuzzRunAnything compiles arbitrary text as a filter and runs what compiles: it ends within
// the budgets or with an error, and never panics.
func FuzzRunAnything(f *testing.F) {
	for _, s := range []string{"1..3 | map(# * 2) | len() > 0", `let s = "ab"; len(s + s + s) > 2`, `reduce(1..9, #acc + #acc, "a") != ""`,
		`all(members(), # in members())`, `len(toJSON([members(), members()])) > 0`, `len(split(repeat("a,", 99), ",")) > 1`} {
		f.Add(s)
	}
	view := budgetWorld(1000)
	f.Fuzz(func(t *testing.T, src string) {
		progs, err := Compile(Sources{Filter: src})
		if err != nil || progs.programs[StageFilter] == nil {
			return
		}
		ev := newEvaluation(time.Now(), &models.Action{Params: map[string]any{}}, &models.Proposal{Data: map[string]any{}},
			&models.PolicyVersion{}, view, MemberInfo{}, nil)
		start := processCPU()
		_, _ = ev.run(StageFilter, progs.programs[StageFilter])
		if d := processCPU() - start; d > 20*maxStageTime {
			t.Fatalf("%q used %s of CPU (budget %s)", src, d, maxStageTime)
		}
	})
}

// TestTimeBudget: a run that counts few steps but keeps the CPU busy between them is stopped
// by its CPU-time budget (the backstop for work the steps would not see).
func TestTimeBudget(t *testing.T) {
	m := newMeter()
	defer func() {
		r := recover()
		err, ok := r.(error)
		if !ok || ErrorKind(err) != ErrorKindBudget || !strings.Contains(err.Error(), "took longer") {
			t.Fatalf("recovered %v: want the time budget", r)
		}
	}()
	start := time.Now()
	for x := 0; time.Since(start) < 20*time.Second; x++ {
		m.charge(1, 0)
		for i := 0; i < 2000; i++ { // a few microseconds of work per step
			x ^= i * x
		}
	}
	t.Fatal("never stopped")
}

// processCPU is the CPU time this process has used: unlike the wall clock, it does not grow
// while a loaded machine keeps the test waiting (generous bounds above allow for the
// garbage collector and the fuzzing engine's own work).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
