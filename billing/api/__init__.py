"""The billing endpoints: teams and the job endpoints (`teams`), Stripe billing (`stripe_billing`)."""
