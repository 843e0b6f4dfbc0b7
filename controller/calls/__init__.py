"""Call control: the Stasis app, one gate call owning its ARI resources, resident dialling and the call runner."""
