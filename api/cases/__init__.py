"""Referrals (案件): extension and restructuring proposals and escalations, reviewed with four eyes."""
