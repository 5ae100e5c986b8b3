package server_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/kms/api"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// TestRealmUsernamesStayInTheirTenant: through the real router, an
// administrator can create usernames only with the own tenant's "@tenant"
// part; another tenant's suffix is a 400 whether or not that tenant has the
// name (never a 409 that would tell), nothing is stored, and the user
// endpoints never reach another tenant's user.
func TestRealmUsernamesStayInTheirTenant(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		k := fixture.StartKMS(t, b)
		adminA, adminB := k.APIAs(t, 0, "admin"), k.APIAs(t, 1, "admin")
		nameA, nameB := k.Tenant(t, 0).Name, k.Tenant(t, 1).Name
		newUser := func(username string) api.CreateRealmUserJSONRequestBody {
			return api.CreateRealmUserJSONRequestBody{Username: username, Password: "long-enough-pw", Roles: []string{"reader"}}
		}
		names := func(c *api.ClientWithResponses) []string {
			r, err := c.ListRealmUsersWithResponse(ctx, &api.ListRealmUsersParams{})
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, r.StatusCode(), "%s", r.Body)
			var out []string
			for _, u := range r.JSON200.Items {
				out = append(out, u.Username)
			}
			return out
		}
		refused := func(username string) {
			t.Helper()
			r, err := adminA.CreateRealmUserWithResponse(ctx, newUser(username))
			require.NoError(t, err)
			require.Equal(t, http.StatusBadRequest, r.StatusCode(), "%s", r.Body)
			require.NotNil(t, r.ApplicationproblemJSON400, "%s", r.Body)
			require.NotNil(t, r.ApplicationproblemJSON400.Code)
			assert.Equal(t, "invalid_request", *r.ApplicationproblemJSON400.Code)
		}

		refused("newhire@" + nameB)
		assert.NotContains(t, names(adminA), "newhire@"+nameB, "nothing stored")
		assert.NotContains(t, names(adminB), "newhire@"+nameB, "nothing stored")

		rb, err := adminB.CreateRealmUserWithResponse(ctx, newUser("newhire@"+nameB))
		require.NoError(t, err)
		require.Equal(t, http.StatusCreated, rb.StatusCode(), "%s: B is not blocked from its own name", rb.Body)
		refused("newhire@" + nameB) // the same answer now that B has it

		ra, err := adminA.CreateRealmUserWithResponse(ctx, newUser("newhire@"+nameA))
		require.NoError(t, err)
		require.Equal(t, http.StatusCreated, ra.StatusCode(), "%s", ra.Body)
		assert.Contains(t, names(adminA), "newhire@"+nameA)
		assert.NotContains(t, names(adminA), "newhire@"+nameB)

		bID := uuid.UUID(rb.JSON201.Id)
		get, err := adminA.GetRealmUserWithResponse(ctx, bID)
		require.NoError(t, err)
		assert.Equal(t, http.StatusNotFound, get.StatusCode())
		email := "x@example.com"
		upd, err := adminA.UpdateRealmUserWithResponse(ctx, bID, api.UpdateRealmUserJSONRequestBody{Email: &email})
		require.NoError(t, err)
		assert.Equal(t, http.StatusNotFound, upd.StatusCode())
		del, err := adminA.DeleteRealmUserWithResponse(ctx, bID)
		require.NoError(t, err)
		assert.Equal(t, http.StatusNotFound, del.StatusCode())
		still, err := adminB.GetRealmUserWithResponse(ctx, bID)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, still.StatusCode())
		assert.Empty(t, still.JSON200.Email, "B's user is unchanged")
	})
}
