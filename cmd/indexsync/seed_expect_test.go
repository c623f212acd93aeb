package main

import "github.com/indexsync/indexsync/internal/seed"

// expectedCounts recomputes what seed writes, row by row, from the generator.
func expectedCounts(users, orgs int, s uint64) seed.Counts {
	opts := seed.Options{Users: users, Orgs: orgs, Seed: s}
	locs := seed.Locations(opts)
	c := seed.Counts{Users: users, Orgs: len(seed.Organisations(opts, locs)), Locations: len(locs)}
	for i := range users {
		u := seed.User(opts, locs, i)
		c.Memberships += len(u.Orgs)
		c.Roles += len(u.Roles)
	}
	return c
}
