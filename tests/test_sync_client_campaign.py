"""The sync client campaign under pytest, with the profile's settings, and the 'done when'
scenario: one honest server against three Byzantine ones always catches the client up."""

from blockfsm.spec.campaigns.sync_client import OneHonestThreeByzantine, SyncClientTest

TestSyncClientCampaign = SyncClientTest.TestCase
TestOneHonestThreeByzantine = OneHonestThreeByzantine.TestCase
