"""The sync server campaign under pytest, with the profile's settings."""

from blockfsm.spec.campaigns.sync_server import SyncServerTest

TestSyncServerCampaign = SyncServerTest.TestCase
